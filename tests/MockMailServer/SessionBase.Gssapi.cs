using System;
using System.Buffers;
using System.Net;
using System.Net.Security;

namespace MockMail;

/// <summary>
/// SASL GSSAPI (RFC 4752), the server side, on .NET's <see cref="NegotiateAuthentication"/>: it
/// accepts a Kerberos ticket for any principal in the keytab that <see cref="MockServer.UseKerberos"/>
/// names, proves itself with the AP-REP, offers no security layer and logs the client's
/// principal in.
/// </summary>
internal abstract partial class SessionBase
{
    /// <summary>RFC 4752 section 3.3: the security-layer bit for "no layer".</summary>
    private const byte NoSecurityLayer = 1;

    private void AuthGssapi(string? initial)
    {
        using var context = new NegotiateAuthentication(new NegotiateAuthenticationServerOptions
        {
            Package = "Kerberos",
            Credential = CredentialCache.DefaultNetworkCredentials,
            RequiredProtectionLevel = ProtectionLevel.None,
        });

        string? response = initial ?? Challenge(string.Empty);
        while (true)
        {
            if (response == null || !Decode(response, out byte[] token))
            {
                return;
            }

            byte[]? outgoing = context.GetOutgoingBlob(token, out NegotiateAuthenticationStatusCode status);
            if (status == NegotiateAuthenticationStatusCode.Completed)
            {
                // The AP-REP (mutual authentication); the client answers it with an empty response.
                if (outgoing is { Length: > 0 } && Challenge(Convert.ToBase64String(outgoing)) == null)
                {
                    return;
                }

                break;
            }

            if (status != NegotiateAuthenticationStatusCode.ContinueNeeded)
            {
                _record.GssapiFailure = status.ToString();
                Send(SaslFailureReply(SaslFailure.BadCredentials));
                return;
            }

            response = Challenge(Convert.ToBase64String(outgoing ?? Array.Empty<byte>()));
        }

        // No layer but "none", so the maximum buffer size is 0 (RFC 4752 section 3.1).
        var offer = new ArrayBufferWriter<byte>();
        context.Wrap(new byte[] { NoSecurityLayer, 0, 0, 0 }, offer, requestEncryption: false, out _);
        string? answerLine = Challenge(Convert.ToBase64String(offer.WrittenSpan));
        if (answerLine == null || !Decode(answerLine, out byte[] wrapped))
        {
            return;
        }

        var answer = new ArrayBufferWriter<byte>();
        NegotiateAuthenticationStatusCode unwrapped = context.Unwrap(wrapped, answer, out _);
        if (unwrapped != NegotiateAuthenticationStatusCode.Completed || answer.WrittenCount < 4 || answer.WrittenSpan[0] != NoSecurityLayer)
        {
            _record.GssapiFailure = unwrapped == NegotiateAuthenticationStatusCode.Completed ? "security layer answer" : unwrapped.ToString();
            Send(SaslFailureReply(SaslFailure.BadCredentials));
            return;
        }

        OnAuthenticated(context.RemoteIdentity.Name ?? string.Empty, "GSSAPI");
    }
}
