using System;
using System.Text;

namespace MockMail;

/// <summary>Why a SASL exchange failed; each protocol words its own reply.</summary>
internal enum SaslFailure
{
    /// <summary>A client response is not valid base64.</summary>
    CannotDecode,

    /// <summary>A PLAIN response does not have three NUL-separated fields.</summary>
    MalformedPlain,

    /// <summary>A client response line is over the limit.</summary>
    LineTooLong,

    /// <summary>The client answered a challenge with "*".</summary>
    Cancelled,

    /// <summary>PLAIN or LOGIN: unknown user or wrong password.</summary>
    BadCredentials,

    /// <summary>XOAUTH2: unknown user or wrong token (after the client acknowledged the error challenge).</summary>
    TokenRejected,
}

/// <summary>
/// The SASL mechanisms PLAIN, LOGIN and XOAUTH2 (and GSSAPI, NTLM, in SessionBase.Gssapi.cs, SessionBase.Ntlm.cs) for SMTP AUTH (RFC 4954) and POP3 AUTH (RFC 5034): the exchange,
/// the decoding and the credential checks are the same; the protocols differ in the challenge prefix, in the
/// wording of the replies and in what a successful login does.
/// </summary>
internal abstract partial class SessionBase
{
    /// <summary>SASL client responses (continuation lines) are not bound by the command line limit.</summary>
    private const int MaxSaslLine = 12288;

    /// <summary>Prefix of a server challenge: "334 " (SMTP) or "+ " (POP3).</summary>
    protected abstract string SaslChallengePrefix { get; }

    /// <summary>The reply that ends a failed exchange.</summary>
    protected abstract string SaslFailureReply(SaslFailure failure);

    /// <summary>The credentials are valid: log the user in and reply.</summary>
    protected abstract void OnAuthenticated(string user, string mechanism);

    /// <summary>A refused XOAUTH2 token first gets a challenge with the error JSON (Gmail's way); false: the
    /// failure reply comes at once (Exchange Online's way).</summary>
    protected virtual bool Xoauth2ErrorChallenge => true;

    /// <summary>The mechanism of the exchange under way (or the last one).</summary>
    protected string SaslMechanism { get; private set; } = string.Empty;

    /// <summary>Splits an AUTH argument into the mechanism (upper case) and the optional initial response;
    /// false if it has no words or more than two.</summary>
    protected static bool TryParseAuth(string arg, out string mechanism, out string? initial)
    {
        string[] parts = arg.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);
        mechanism = parts.Length > 0 ? parts[0].ToUpperInvariant() : string.Empty;
        initial = parts.Length == 2 ? parts[1] : null;
        return parts.Length is 1 or 2;
    }

    /// <summary>Whether <paramref name="mechanism"/> is in <paramref name="offered"/> (case-insensitive).</summary>
    protected static bool Offers(string[] offered, string mechanism) =>
        Array.FindIndex(offered, m => string.Equals(m, mechanism, StringComparison.OrdinalIgnoreCase)) >= 0;

    /// <summary>Runs a PLAIN, LOGIN or XOAUTH2 exchange to its end (every reply is sent). Returns false, having
    /// sent nothing, for any other mechanism.</summary>
    protected bool Authenticate(string mechanism, string? initial)
    {
        SaslMechanism = mechanism;
        switch (mechanism)
        {
            case "PLAIN":
                AuthPlain(initial);
                return true;
            case "LOGIN":
                AuthLogin(initial);
                return true;
            case "XOAUTH2":
                AuthXoauth2(initial);
                return true;
            case "GSSAPI":
                AuthGssapi(initial);
                return true;
            case "NTLM":
                AuthNtlm(initial);
                return true;
            default:
                return false;
        }
    }

    private void AuthPlain(string? initial)
    {
        string? response = initial ?? Challenge(string.Empty);
        if (response == null || !Decode(response, out byte[] raw))
        {
            return;
        }

        string[] fields = Utf8.GetString(raw).Split('\0');
        if (fields.Length != 3)
        {
            Send(SaslFailureReply(SaslFailure.MalformedPlain));
            return;
        }

        bool ok = (fields[0].Length == 0 || fields[0] == fields[1]) && _server.CheckPassword(fields[1], fields[2]);
        AuthResult(ok, fields[1], "PLAIN");
    }

    private void AuthLogin(string? initial)
    {
        string? userLine = initial ?? Challenge("VXNlcm5hbWU6");
        if (userLine == null || !Decode(userLine, out byte[] userRaw))
        {
            return;
        }

        string? passLine = Challenge("UGFzc3dvcmQ6");
        if (passLine == null || !Decode(passLine, out byte[] passRaw))
        {
            return;
        }

        string user = Utf8.GetString(userRaw);
        AuthResult(_server.CheckPassword(user, Utf8.GetString(passRaw)), user, "LOGIN");
    }

    private void AuthXoauth2(string? initial)
    {
        string? response = initial ?? Challenge(string.Empty);
        if (response == null || !Decode(response, out byte[] raw))
        {
            return;
        }

        string? user = null;
        string? token = null;
        foreach (string field in Utf8.GetString(raw).Split('\x01'))
        {
            if (field.StartsWith("user=", StringComparison.Ordinal))
            {
                user = field.Substring(5);
            }
            else if (field.StartsWith("auth=", StringComparison.Ordinal))
            {
                string value = field.Substring(5);
                if (value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                {
                    token = value.Substring(7);
                }
            }
        }

        if (user != null && token != null && _server.CheckToken(user, token))
        {
            OnAuthenticated(user, "XOAUTH2");
            return;
        }

        if (!Xoauth2ErrorChallenge)
        {
            Send(SaslFailureReply(SaslFailure.TokenRejected));
            return;
        }

        // As Gmail does: a challenge with the error JSON; the client answers with an empty line.
        const string error = "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"https://mail.google.com/\"}";
        string? ack = Challenge(Convert.ToBase64String(Encoding.ASCII.GetBytes(error)));
        if (ack == null)
        {
            return;
        }

        Send(SaslFailureReply(SaslFailure.TokenRejected));
    }

    private void AuthResult(bool ok, string user, string mechanism)
    {
        if (!ok)
        {
            Send(SaslFailureReply(SaslFailure.BadCredentials));
            return;
        }

        OnAuthenticated(user, mechanism);
    }

    /// <summary>Sends a challenge (the prefix, then <paramref name="data"/>) and reads the client's response line,
    /// which is recorded. Returns null (reply already sent or connection gone) on EOF, an over-long line or a "*"
    /// cancel.</summary>
    private string? Challenge(string data)
    {
        Send(SaslChallengePrefix + data);
        var status = _io.ReadLine(MaxSaslLine, out var bytes, out _);
        if (status == LineStatus.Eof)
        {
            _closed = true;
            return null;
        }

        string text = Utf8.GetString(bytes);
        _record.AddCommand(text);
        if (status == LineStatus.TooLong)
        {
            Send(SaslFailureReply(SaslFailure.LineTooLong));
            return null;
        }

        text = text.Trim();
        if (text == "*")
        {
            Send(SaslFailureReply(SaslFailure.Cancelled));
            return null;
        }

        return text;
    }

    /// <summary>Base64 to bytes ("=" is an empty response); on bad input sends the failure reply and returns false.</summary>
    private bool Decode(string base64, out byte[] raw)
    {
        raw = Array.Empty<byte>();
        if (base64 == "=")
        {
            return true;
        }

        try
        {
            raw = Convert.FromBase64String(base64);
            return true;
        }
        catch (FormatException)
        {
            Send(SaslFailureReply(SaslFailure.CannotDecode));
            return false;
        }
    }
}
