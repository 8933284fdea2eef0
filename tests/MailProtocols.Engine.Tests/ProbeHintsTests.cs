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
    [InlineData("Tls", "Only TLS 1.0 was negotiated")]
    [InlineData("Tls11", "Only TLS 1.1 was negotiated")]
    public void NamesTheRetiredVersionInWords(string protocol, string expected)
    {
        Assert.StartsWith(expected, ProbeHints.OldProtocol(protocol));
    }

    [Fact]
    public void SaysWhenACertificateIsNotValidYet()
    {
        var certificate = new CertificateReport { NotBefore = DateTime.Now.AddDays(2), NotAfter = DateTime.Now.AddDays(200), DaysToExpiry = 199 };
        Assert.Contains("not valid before", ProbeHints.CertificateExpiry(certificate));
    }

    [Theory]
    [InlineData(-10, -2, "Expired")]
    [InlineData(2, 200, "NotYetValid")]
    [InlineData(-10, 200, CertificateReport.ChainNotTimeValid)]
    public void JudgesAChainTimeProblemByTheServersOwnDates(int notBeforeDays, int notAfterDays, string expected)
    {
        var now = DateTime.Now;
        Assert.Equal(expected, CertificateReport.TimeProblem(now.AddDays(notBeforeDays), now.AddDays(notAfterDays), now));
    }

    [Fact]
    public void NamesAnIntermediateOutOfItsValidity()
    {
        var certificate = new CertificateReport { NotAfter = DateTime.Now.AddYears(1), DaysToExpiry = 365, Problems = new TextList<string>(new[] { CertificateReport.ChainNotTimeValid }) };
        var hint = Assert.Single(ProbeHints.ForTls("smtp.contoso.com", new TlsReport { Protocol = "Tls13", Certificate = certificate }));
        Assert.Contains("intermediate", hint);
    }

    [Theory]
    [InlineData("UntrustedRoot")]
    [InlineData("PartialChain")]
    public void SaysTheIssuerIsNotTrusted(string problem)
    {
        var certificate = new CertificateReport { NotAfter = DateTime.Now.AddYears(1), DaysToExpiry = 365, Problems = new TextList<string>(new[] { problem }) };
        var hint = Assert.Single(ProbeHints.ForTls("smtp.contoso.com", new TlsReport { Protocol = "Tls13", Certificate = certificate }));
        Assert.Equal(ProbeHints.UntrustedRoot, hint);
    }

    [Theory]
    [InlineData("HostNotFound", "does not resolve")]
    [InlineData("ConnectFailed", "Nothing accepts connections on port 2525")]
    [InlineData("ConnectTimeout", "Nothing answered on port 2525 in time")]
    public void ExplainsAServerThatCannotBeReached(string errorId, string expected)
    {
        Assert.Contains(expected, ProbeHints.ForConnectError(errorId, 2525));
    }

    [Fact]
    public void LeavesOtherConnectErrorsAlone()
    {
        Assert.Null(ProbeHints.ForConnectError("TlsHandshakeFailed", 2525));
    }

    [Fact]
    public void OffersBothCausesOfAMissingGreeting()
    {
        var hint = ProbeHints.NoGreeting(TimeSpan.FromSeconds(3));
        Assert.Contains("within 3 s", hint);
        Assert.Contains("-TlsMode Implicit", hint);
        Assert.Contains("raise -TimeoutSec", hint);
    }

    [Theory]
    [InlineData(200, null)]
    [InlineData(15, null)]
    [InlineData(14, "expires in 14 days")]
    [InlineData(2, "expires in 2 days,")]
    [InlineData(1, "expires in 1 day,")]
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
