using System;
using System.Linq;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class AuthenticationHintsTests
{
    [Theory]
    [InlineData(550, "5.7.30 Basic authentication is not supported for Client Submission.", false, "BasicAuthenticationNotSupported", "SMTP.SendAsApp")]
    [InlineData(535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.", false, "SmtpAuthenticationDisabled", "Set-CASMailbox")]
    [InlineData(535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.", true, "SmtpAuthenticationDisabled", "-SmtpClientAuthenticationDisabled $false")]
    [InlineData(535, "5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy.", false, "SmtpAuthenticationBlockedByPolicy", "security defaults")]
    [InlineData(535, "5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully.", false, "SmtpAuthenticationBlockedByPolicy", "Conditional Access")]
    [InlineData(535, "5.7.139 Authentication unsuccessful, basic authentication is disabled. [PH7P220CA0132.NAMP220.PROD.OUTLOOK.COM]", false, "BasicAuthenticationNotSupported", "SMTP.SendAsApp")]
    [InlineData(535, "5.7.139 Authentication unsuccessful, the user credentials were incorrect. [PH0PR07CA0004.namprd07.prod.outlook.com]", false, "AuthenticationFailed", "Check the user name and password")]
    [InlineData(535, "5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]", true, "MailboxAccessNotGranted", "New-ServicePrincipal")]
    [InlineData(535, "5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]", false, "AuthenticationFailed", "OAuth2")]
    public void KnowsExchangeOnlineSmtpRefusals(int code, string text, bool oauth, string errorId, string fix)
    {
        var hint = AuthenticationHints.ForSmtpReply(code, text, oauth);
        Assert.NotNull(hint);
        Assert.Equal(errorId, hint!.ErrorId);
        Assert.Equal(MailErrorKind.AuthenticationError, hint.Kind);
        Assert.Contains(fix, hint.Hint);
    }

    [Theory]
    [InlineData(535, "5.7.8 Authentication credentials invalid", false)]
    [InlineData(535, "5.7.8 Authentication credentials invalid", true)]
    [InlineData(535, "5.7.39 Something else", true)] // not 5.7.3
    [InlineData(535, "5.7.139 Authentication unsuccessful, some text not known here.", false)] // no fix to guess
    [InlineData(535, "5.7.1390 Something else", true)] // not 5.7.139
    [InlineData(454, "4.7.0 Temporary authentication failure", false)]
    [InlineData(550, "5.7.1 Relaying denied", false)]
    public void LeavesOtherRefusalsAlone(int code, string text, bool oauth)
    {
        Assert.Null(AuthenticationHints.ForSmtpReply(code, text, oauth));
    }

    [Fact]
    public void NamesEveryPop3StepForARefusedToken()
    {
        var hint = AuthenticationHints.ForPop3Reply("-ERR Authentication failure: unknown user name or bad password.", oauth: true);
        Assert.NotNull(hint);
        Assert.Equal("MailboxAccessNotGranted", hint!.ErrorId);
        foreach (var step in new[] { "POP.AccessAsApp", "New-ServicePrincipal", "Add-MailboxPermission", "FullAccess", "-PopEnabled $true" })
        {
            Assert.Contains(step, hint.Hint);
        }

        // A wrong password is not a missing permission.
        Assert.Null(AuthenticationHints.ForPop3Reply("-ERR Authentication failure: unknown user name or bad password.", oauth: false));
        Assert.Null(AuthenticationHints.ForPop3Reply("+OK User successfully authenticated.", oauth: true));

        // Another server's refusal of a token (Gmail's, the mock's) is not Exchange's missing permission.
        Assert.Null(AuthenticationHints.ForPop3Reply("-ERR [AUTH] Authentication failed", oauth: true));
    }

    [Theory]
    [InlineData("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.", "ClientSecretInvalid", MailErrorKind.AuthenticationError, "-ClientSecret")]
    [InlineData("AADSTS7000222: The provided client secret keys for app '00000000-0000-0000-0000-000000000001' are expired.", "ClientSecretExpired", MailErrorKind.AuthenticationError, "new one")]
    [InlineData("AADSTS700016: Application with identifier 'x' was not found in the directory 'contoso'.", "ApplicationNotFound", MailErrorKind.ObjectNotFound, "-ClientId")]
    [InlineData("AADSTS90002: Tenant 'nosuch' not found.", "TenantNotFound", MailErrorKind.ObjectNotFound, "-TenantId")]
    [InlineData("AADSTS700027: Client assertion contains an invalid signature. [Reason - The key used is expired.]", "ClientCertificateNotAccepted", MailErrorKind.AuthenticationError, "expired")]
    [InlineData("AADSTS700027", "ClientCertificateNotAccepted", MailErrorKind.AuthenticationError, "Certificates & secrets")]
    public void KnowsTheTokenEndpointsCodes(string message, string errorId, MailErrorKind kind, string fix)
    {
        var hint = AuthenticationHints.ForAadsts(message);
        Assert.NotNull(hint);
        Assert.Equal(errorId, hint!.ErrorId);
        Assert.Equal(kind, hint.Kind);
        Assert.Contains(fix, hint.Hint);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("AADSTS7000216: something new")] // a longer code is another code
    [InlineData("AADSTS70001: Application is disabled.")]
    [InlineData("no code here")]
    public void ReturnsNullForUnknownTokenErrors(string? message)
    {
        Assert.Null(AuthenticationHints.ForAadsts(message));
    }

    [Fact]
    public void EveryRowHasOneSentenceAndAStableErrorId()
    {
        foreach (var row in AuthenticationHints.All)
        {
            Assert.Matches("^[A-Z][A-Za-z0-9]+$", row.ErrorId);
            Assert.EndsWith(".", row.Hint);

            // One sentence: no full stop before the last, except inside a name like ".cer" or "$false)".
            var body = row.Hint.Substring(0, row.Hint.Length - 1);
            Assert.DoesNotContain(". ", body);
        }

        // A row with a text must come before the row for the same code without one, or it is never reached.
        var rows = AuthenticationHints.All.ToList();
        for (var i = 0; i < rows.Count; i++)
        {
            for (var j = 0; j < i; j++)
            {
                var earlier = rows[j];
                var later = rows[i];
                var shadows = earlier.Source == later.Source && earlier.Code == later.Code && earlier.TextContains == null &&
                    (earlier.OAuth == null || earlier.OAuth == later.OAuth);
                Assert.False(shadows, $"row {j} ({earlier.ErrorId}) hides row {i} ({later.ErrorId})");
            }
        }
    }

    [Fact]
    public void PutsTheHintAndErrorIdOnTheAuthenticationError()
    {
        var settings = new ConnectionSettings { Host = "smtp.example.com", Port = 587 };
        var hint = AuthenticationHints.ForSmtpReply(535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.", false);
        var error = ConnectErrors.AuthenticationFailed(settings, "ops@example.com",
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.", hint);
        Assert.Equal("SmtpAuthenticationDisabled", error.ErrorId);
        Assert.Equal("ops@example.com", error.Target);
        Assert.True(error.IsSessionFailure);
        Assert.Contains("disabled for the Tenant. SMTP AUTH is turned off", error.Message);

        var plain = ConnectErrors.AuthenticationFailed(settings, "ops@example.com", "535 5.7.8 Bad credentials", null);
        Assert.Equal("AuthenticationFailed", plain.ErrorId);
        Assert.EndsWith("535 5.7.8 Bad credentials", plain.Message);
    }
}
