using System;
using MailProtocols.Engine.OAuth;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>Where an app-only sign-in goes for each cloud, and for an -Authority of its own.</summary>
public class EntraAppTests
{
    [Theory]
    [InlineData(MicrosoftCloud.Global, "https://login.microsoftonline.com/contoso.onmicrosoft.com/", "https://outlook.office365.com/.default")]
    [InlineData(MicrosoftCloud.USGovernment, "https://login.microsoftonline.us/contoso.onmicrosoft.com/", "https://outlook.office365.us/.default")]
    [InlineData(MicrosoftCloud.USGovernmentDoD, "https://login.microsoftonline.us/contoso.onmicrosoft.com/", "https://outlook-dod.office365.us/.default")]
    [InlineData(MicrosoftCloud.China, "https://login.chinacloudapi.cn/contoso.onmicrosoft.com/", "https://partner.outlook.cn/.default")]
    public void EachCloudHasItsAuthorityAndExchangeScope(MicrosoftCloud cloud, string authority, string scope)
    {
        var app = new EntraApp { TenantId = "contoso.onmicrosoft.com", ClientId = "app", Cloud = cloud };
        Assert.Equal(new Uri(authority), app.AuthorityUri);
        Assert.Equal(scope, app.Scope);
    }

    [Theory]
    [InlineData("https://127.0.0.1:4443/")]
    [InlineData("https://127.0.0.1:4443")]
    public void AnAuthorityOfItsOwnGetsTheTenantAppendedAndKeepsTheCloudsScope(string baseUrl)
    {
        var app = new EntraApp { TenantId = "t1", ClientId = "app", Cloud = MicrosoftCloud.USGovernment, Authority = new Uri(baseUrl) };
        Assert.Equal(new Uri("https://127.0.0.1:4443/t1/"), app.AuthorityUri);
        Assert.Equal("https://outlook.office365.us/.default", app.Scope);
    }
}
