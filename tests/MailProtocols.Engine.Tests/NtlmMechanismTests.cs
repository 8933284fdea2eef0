using System.Net;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class NtlmMechanismTests
{
    [Theory]
    [InlineData(@"MAILTEST\carol", "", "carol", "MAILTEST")]
    [InlineData("carol@mailtest.example", "", "carol", "mailtest.example")]
    [InlineData("carol", "", "carol", "")]
    [InlineData("carol@mailtest.example", "OTHER", "carol@mailtest.example", "OTHER")]
    public void KeepsTheDomainApartFromTheUserName(string userName, string domain, string user, string expectedDomain)
    {
        var split = NtlmMechanism.WithDomain(new NetworkCredential(userName, "pw", domain));
        Assert.Equal(user, split.UserName);
        Assert.Equal(expectedDomain, split.Domain);
        Assert.Equal("pw", split.Password);
    }
}
