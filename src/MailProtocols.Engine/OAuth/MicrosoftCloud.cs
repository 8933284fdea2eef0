using System;

namespace MailProtocols.Engine.OAuth;

/// <summary>The Microsoft cloud a tenant lives in.</summary>
public enum MicrosoftCloud
{
    Global,
    USGovernment,
    China,
    USGovernmentDoD,
}

/// <summary>
/// Each cloud's sign-in authority and Exchange Online resource. The authority hosts are those of
/// Microsoft's "National clouds" page of the identity platform (learn.microsoft.com, entra/
/// identity-platform/authentication-national-cloud); the Exchange hosts are the Outlook/Exchange
/// resources of each offering: outlook.office365.com worldwide, outlook.office365.us for GCC High
/// (Connect-ExchangeOnline's O365USGovGCCHigh environment), outlook-dod.office365.us for DoD
/// (its O365USGovDoD environment), partner.outlook.cn for Office 365
/// operated by 21Vianet ("API endpoints of Office 365 operated by 21Vianet"). GCC (moderate)
/// tenants use the worldwide endpoints, so they are Global here.
/// </summary>
internal static class MicrosoftClouds
{
    public static Uri AuthorityHost(MicrosoftCloud cloud) => cloud switch
    {
        MicrosoftCloud.USGovernment or MicrosoftCloud.USGovernmentDoD => new Uri("https://login.microsoftonline.us/"),
        MicrosoftCloud.China => new Uri("https://login.chinacloudapi.cn/"),
        _ => new Uri("https://login.microsoftonline.com/"),
    };

    /// <summary>The scope of an app-only token for SMTP and POP3: the resource's ".default",
    /// which means "the application permissions the admin consented to" (SMTP.SendAsApp, POP.AccessAsApp).</summary>
    public static string ExchangeScope(MicrosoftCloud cloud) => cloud switch
    {
        MicrosoftCloud.USGovernment => "https://outlook.office365.us/.default",
        MicrosoftCloud.USGovernmentDoD => "https://outlook-dod.office365.us/.default",
        MicrosoftCloud.China => "https://partner.outlook.cn/.default",
        _ => "https://outlook.office365.com/.default",
    };
}
