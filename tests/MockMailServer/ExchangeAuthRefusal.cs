namespace MockMail;

/// <summary>
/// How the SMTP side refuses AUTH the way Exchange Online does (<see cref="SmtpOptions.ExchangeAuthRefusal"/>).
/// The exchange runs to its end, credentials and all, and then the reply below replaces its outcome,
/// whatever the credentials were: Exchange refuses so after it has read them. XOAUTH2 gets no error
/// challenge first (that is Gmail's way).
/// </summary>
public enum ExchangeAuthRefusal
{
    /// <summary>AUTH works as usual.</summary>
    None,

    /// <summary>Every mechanism: <c>535 5.7.3 Authentication unsuccessful [...]</c>, Exchange's reply to a token
    /// it does not accept for the mailbox (no service principal, no mailbox permission) or a bad password.</summary>
    AuthenticationUnsuccessful,

    /// <summary>Every mechanism: <c>535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled
    /// for the Tenant. ...</c></summary>
    SmtpAuthDisabledForTenant,

    /// <summary>Every mechanism: <c>535 5.7.139 ... disabled for the Mailbox. ...</c></summary>
    SmtpAuthDisabledForMailbox,

    /// <summary>PLAIN and LOGIN: <c>550 5.7.30 Basic authentication is not supported for Client Submission.</c>;
    /// XOAUTH2 works as usual.</summary>
    BasicAuthNotSupported,
}
