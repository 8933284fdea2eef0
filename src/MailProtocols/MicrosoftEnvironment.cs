namespace MailProtocols;

/// <summary>
/// The Microsoft cloud of an app-only sign-in (the -Environment parameter); it mirrors the
/// engine's MicrosoftCloud under a name of this assembly, as <see cref="MailTlsMode"/> does.
/// </summary>
public enum MicrosoftEnvironment
{
    /// <summary>Microsoft 365 worldwide, GCC included: login.microsoftonline.com, outlook.office365.com.</summary>
    Global = Engine.OAuth.MicrosoftCloud.Global,

    /// <summary>Microsoft 365 GCC High: login.microsoftonline.us, outlook.office365.us.</summary>
    USGovernment = Engine.OAuth.MicrosoftCloud.USGovernment,

    /// <summary>Office 365 operated by 21Vianet: login.chinacloudapi.cn, partner.outlook.cn.</summary>
    China = Engine.OAuth.MicrosoftCloud.China,

    /// <summary>Microsoft 365 DoD: login.microsoftonline.us, outlook-dod.office365.us.</summary>
    USGovernmentDoD = Engine.OAuth.MicrosoftCloud.USGovernmentDoD,
}
