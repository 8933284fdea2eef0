using System;
using System.Net;
using System.Net.Security;

namespace MockMail;

/// <summary>
/// SASL NTLM (the exchange Exchange and Dovecot use: NEGOTIATE, CHALLENGE, AUTHENTICATE messages in
/// base64, no other framing), the server side, on .NET's <see cref="NegotiateAuthentication"/>. On
/// Linux that is gss-ntlmssp, which checks the answer against the NTLM_USER_FILE that
/// <see cref="MockServer.UseNtlm"/> names: the verifier is not this project's code. The channel
/// binding, which gss-ntlmssp is not given here, the mock checks itself (<see cref="NtlmChannelBinding"/>).
/// </summary>
internal abstract partial class SessionBase
{
    private void AuthNtlm(string? initial)
    {
        using var context = new NegotiateAuthentication(new NegotiateAuthenticationServerOptions
        {
            Package = "NTLM",
            Credential = CredentialCache.DefaultNetworkCredentials,
            RequiredProtectionLevel = ProtectionLevel.None,
        });
        byte[]? required = _server.RequireNtlmChannelBinding && _ssl != null ? NtlmChannelBinding.Expected(_ssl.LocalCertificate!) : null;

        string? response = initial ?? Challenge(string.Empty);
        while (true)
        {
            if (response == null || !Decode(response, out byte[] token))
            {
                return;
            }

            if (NtlmChannelBinding.In(token) is { } binding)
            {
                _record.NtlmChannelBinding = binding.Length > 0;
                if (required != null && !binding.AsSpan().SequenceEqual(required))
                {
                    _record.GssapiFailure = binding.Length == 0 ? "no channel binding" : "wrong channel binding";
                    Send(SaslFailureReply(SaslFailure.BadCredentials));
                    return;
                }
            }

            byte[]? outgoing = context.GetOutgoingBlob(token, out NegotiateAuthenticationStatusCode status);
            if (status == NegotiateAuthenticationStatusCode.Completed)
            {
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

        OnAuthenticated(context.RemoteIdentity.Name ?? string.Empty, "NTLM");
    }
}
