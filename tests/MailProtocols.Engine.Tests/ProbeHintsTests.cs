using System;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class ProbeHintsTests
{
    [Theory]
    [InlineData("Tls", true)]
    [InlineData("Tls11", true)]
    [InlineData("Tls12", false)]
    [InlineData("Tls13", false)]
    public void NamesRetiredTlsVersionsOnly(string protocol, bool hinted)
    {
        var hints = ProbeHints.ForTls("smtp.contoso.com", new TlsReport { Protocol = protocol, Method = "StartTls" });
        Assert.Equal(hinted, hints.Length == 1 && hints[0].Contains("TLS 1.0 and 1.1 are retired"));
        Assert.Equal(hinted ? 1 : 0, hints.Length);
    }

    [Theory]
    [InlineData(200, null)]
    [InlineData(15, null)]
    [InlineData(14, "expires in 14 days")]
    [InlineData(1, "expires in 1 days")]
    [InlineData(-3, "expired on")]
    public void WarnsOfExpiryFromTwoWeeksBefore(int days, string? expected)
    {
        var notAfter = DateTime.Now.AddDays(days).AddHours(1);
        var certificate = new CertificateReport { NotAfter = notAfter, DaysToExpiry = (int)Math.Floor((notAfter - DateTime.Now).TotalDays), Valid = true };
        var hint = ProbeHints.CertificateExpiry(certificate);
        if (expected == null)
        {
            Assert.Null(hint);
        }
        else
        {
            Assert.Contains(expected, hint);
        }
    }

    [Fact]
    public void NamesTheCertificatesNamesForAMismatch()
    {
        var certificate = new CertificateReport
        {
            Subject = "CN=mail.fabrikam.com",
            SubjectAlternativeNames = new TextList<string>(new[] { "mail.fabrikam.com", "smtp.fabrikam.com" }),
            NotAfter = DateTime.Now.AddYears(1),
            DaysToExpiry = 365,
            Problems = new TextList<string>(new[] { "NameMismatch" }),
        };
        var hints = ProbeHints.ForTls("smtp.contoso.com", new TlsReport { Protocol = "Tls13", Certificate = certificate });
        var hint = Assert.Single(hints);
        Assert.Contains("for mail.fabrikam.com, smtp.fabrikam.com, not for 'smtp.contoso.com'", hint);
    }

    [Theory]
    [InlineData(530, "5.7.0 Must issue a STARTTLS command first", false, "wants STARTTLS before this command")]
    [InlineData(535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.", false, "Set-CASMailbox")]
    [InlineData(550, "5.7.30 Basic authentication is not supported for Client Submission.", false, "SMTP.SendAsApp")]
    public void KnowsTheRepliesOfTheIssue(int code, string text, bool oauth, string fix)
    {
        Assert.Contains(fix, ProbeHints.ForReply(code, text, oauth));
    }

    [Theory]
    [InlineData(530, "5.7.0 Authentication required")]
    [InlineData(550, "5.1.1 No such user")]
    public void LeavesOtherRepliesAlone(int code, string text)
    {
        Assert.Null(ProbeHints.ForReply(code, text, false));
    }
}
