using System;
using MailProtocols.Engine.Pop3;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class Pop3ProbeHintsTests
{
    [Theory]
    [InlineData("-ERR [IN-USE] Mailbox locked", "PLAIN", false, true, "Another session holds the mailbox")]
    [InlineData("-ERR [LOGIN-DELAY] wait", "USER", false, true, "[LOGIN-DELAY]")]
    [InlineData("-ERR [SYS/TEMP] store down", "PLAIN", false, true, "temporary problem")]
    [InlineData("-ERR [SYS/PERM] store broken", "PLAIN", false, true, "lasting problem")]
    [InlineData("-ERR [AUTH] Plaintext authentication disallowed on non-secure connections", "USER", false, false, "refuses to sign in over plain text")]
    [InlineData("-ERR [AUTH] Invalid credentials", "PLAIN", false, true, "user name or password is wrong")]
    [InlineData("-ERR [AUTH] Invalid credentials", "PLAIN", false, false, "user name or password is wrong")]
    [InlineData("-ERR [AUTH] Invalid credentials for the TLS session", "PLAIN", false, true, "user name or password is wrong")]
    [InlineData("-ERR Logon failure: unknown user name or bad password.", "USER", false, true, "Basic authentication is off for POP3")]
    [InlineData("-ERR Authentication failure: unknown user name or bad password.", "PLAIN", false, true, "Basic authentication is off for POP3")]
    [InlineData("-ERR Authentication failure: unknown user name or bad password.", "XOAUTH2", true, true, "POP.AccessAsApp")]
    [InlineData("-ERR [AUTH] Authentication failed", "XOAUTH2", true, true, "refused the token")]
    [InlineData("-ERR no", "PLAIN", false, true, null)]
    public void NamesTheCauseOfARefusedLogin(string line, string mechanism, bool oauth, bool secure, string? expected)
    {
        var hint = Pop3ProbeHints.ForLoginReply(line, mechanism, oauth, secure);
        if (expected == null)
        {
            Assert.Null(hint);
        }
        else
        {
            Assert.Contains(expected, hint);
        }
    }

    [Theory]
    [InlineData(995, false, true)]
    [InlineData(2995, true, true)]
    [InlineData(110, false, false)]
    public void SaysImplicitTlsOutrightOnlyOn995OrAfterATlsRecord(int port, bool tlsRecord, bool outright)
    {
        var hint = Pop3ProbeHints.NoGreeting(port, tlsRecord, TimeSpan.FromSeconds(5));
        Assert.Equal(outright, hint == Pop3ProbeHints.PlainOnImplicitTlsPort);
        if (!outright)
        {
            Assert.Contains("raise -TimeoutSec", hint);
        }
    }

    [Fact]
    public void ReadsCapaAsData()
    {
        var capabilities = Pop3Capabilities.FromLines(new[]
        {
            "TOP", "UIDL", "PIPELINING", "STLS", "RESP-CODES", "AUTH-RESP-CODE", "USER", "SASL PLAIN xoauth2",
            "EXPIRE 30 USER", "LOGIN-DELAY 900", "IMPLEMENTATION Some Server 2.3", "",
        });

        Assert.True(capabilities.Top && capabilities.Uidl && capabilities.Pipelining && capabilities.Stls);
        Assert.True(capabilities.RespCodes && capabilities.AuthRespCode && capabilities.User);
        Assert.Equal(new[] { "PLAIN", "XOAUTH2" }, capabilities.SaslMechanisms);
        Assert.Equal("30 USER", capabilities.Expire);
        Assert.Equal(900, capabilities.LoginDelaySeconds);
        Assert.Equal("Some Server 2.3", capabilities.Implementation);
        Assert.Equal(11, capabilities.Lines.Count);
        Assert.Equal("TOP UIDL PIPELINING STLS RESP-CODES AUTH-RESP-CODE USER SASL EXPIRE LOGIN-DELAY IMPLEMENTATION", capabilities.ToString());
    }

    [Fact]
    public void ReadsAMinimalCapaAsNothingOffered()
    {
        var capabilities = Pop3Capabilities.FromLines(new[] { "UIDL", "LOGIN-DELAY soon" });

        Assert.False(capabilities.Top || capabilities.Stls || capabilities.User);
        Assert.Empty(capabilities.SaslMechanisms);
        Assert.Null(capabilities.Expire);
        Assert.Null(capabilities.LoginDelaySeconds);
    }

    [Theory]
    [InlineData("LOGIN-DELAY 900", true, "one login every 900 s")]
    [InlineData("LOGIN-DELAY 900", false, null)]
    [InlineData("EXPIRE 0", true, "EXPIRE 0")]
    [InlineData("EXPIRE 0 USER", false, "EXPIRE 0")]
    [InlineData("EXPIRE NEVER", true, null)]
    [InlineData("EXPIRE 30", true, null)]
    public void WarnsOfWhatCapaSaysAboutLoginsAndExpiry(string line, bool loggedIn, string? expected)
    {
        var hints = Pop3ProbeHints.ForCapabilities(Pop3Capabilities.FromLines(new[] { line }), loggedIn);
        if (expected == null)
        {
            Assert.Empty(hints);
        }
        else
        {
            Assert.Contains(expected, Assert.Single(hints));
        }
    }
}
