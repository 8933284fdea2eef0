using System;
using System.Net;
using System.Net.Security;
using System.Threading;
using MailKit.Security;
#if NET
using System.Security.Authentication.ExtendedProtection;
#endif

namespace MailProtocols.Engine;

/// <summary>
/// SASL NTLM (NEGOTIATE, CHALLENGE, AUTHENTICATE messages in base64) on .NET's
/// NegotiateAuthentication, so that the AUTHENTICATE message carries the TLS
/// session's channel binding (tls-server-end-point): a server with Extended Protection then
/// knows the answer was made for its own certificate, not relayed through another TLS session.
/// MailKit's managed NTLM takes a binding only from MailKit's own TLS stream, which this module
/// does not use. Windows PowerShell 5.1 has no NegotiateAuthentication and keeps MailKit's NTLM.
/// </summary>
#if NET
internal sealed class NtlmMechanism : SaslMechanism
#else
internal static class NtlmMechanism
#endif
{
    public const string Name = "NTLM";

    /// <summary>The NTLM sign-in: this class, with the TLS channel binding, where the platform can
    /// do NTLM, else MailKit's managed NTLM without a binding.</summary>
    /// <param name="credential">DOMAIN\user or user@domain, and the password.</param>
    /// <param name="target">The server's service principal (e.g. SMTPSVC/host), which NTLM names in its answer.</param>
    /// <param name="tls">The session's TLS stream; null on a plain-text session (no binding then).</param>
    /// <param name="note">Hears, for the verbose stream, why no binding is sent.</param>
    public static SaslMechanism Create(NetworkCredential credential, string target, SslStream? tls, Action<string> note)
    {
#if NET
        var binding = tls?.TransportContext?.GetChannelBinding(ChannelBindingKind.Endpoint);
        var mechanism = new NtlmMechanism(credential, target, binding);
        if (mechanism.Start())
        {
            if (tls != null && binding == null)
            {
                note("NTLM signs in without channel binding: the TLS session has no server-certificate binding to give.");
            }

            return mechanism;
        }

        mechanism._context.Dispose();
        note("NTLM signs in without channel binding (MailKit's own NTLM): this system's NegotiateAuthentication has no NTLM " +
             "(on Linux it needs the gss-ntlmssp package).");
#else
        _ = target;
        _ = tls;
        _ = note;
#endif
        return new SaslMechanismNtlm(credential);
    }

#if NET
    private readonly NegotiateAuthentication _context;
    private byte[]? _negotiate; // made by Start, before anything goes to the server

    private NtlmMechanism(NetworkCredential credential, string target, ChannelBinding? binding)
        : base(credential)
    {
        _context = new NegotiateAuthentication(new NegotiateAuthenticationClientOptions
        {
            Package = Name,
            Credential = WithDomain(credential),
            TargetName = target,
            Binding = binding,
            RequiredProtectionLevel = ProtectionLevel.None,
        });
    }

    public override string MechanismName => Name;

    public override bool SupportsInitialResponse => true;

    /// <summary>NTLM keeps the domain apart from the user name: DOMAIN\user and user@domain both
    /// become (user, domain), as Windows and MailKit's NTLM read them.</summary>
    internal static NetworkCredential WithDomain(NetworkCredential credential)
    {
        var name = credential.UserName;
        var backslash = name.IndexOf('\\');
        if (backslash > 0)
        {
            return new NetworkCredential(name.Substring(backslash + 1), credential.SecurePassword, name.Substring(0, backslash));
        }

        var at = name.LastIndexOf('@');
        if (at > 0 && string.IsNullOrEmpty(credential.Domain))
        {
            return new NetworkCredential(name.Substring(0, at), credential.SecurePassword, name.Substring(at + 1));
        }

        return credential;
    }

    /// <summary>Makes the NEGOTIATE message; false when this system's NegotiateAuthentication has
    /// no NTLM (Linux without gss-ntlmssp).</summary>
    private bool Start()
    {
        try
        {
            _negotiate = _context.GetOutgoingBlob(ReadOnlySpan<byte>.Empty, out var status);
            return status == NegotiateAuthenticationStatusCode.ContinueNeeded && _negotiate != null;
        }
        catch (Exception ex) when (ex is PlatformNotSupportedException || ex is DllNotFoundException || ex is TypeInitializationException)
        {
            return false;
        }
    }

    protected override byte[] Challenge(byte[]? token, int startIndex, int length, CancellationToken cancellationToken)
    {
        if (_negotiate is { } first)
        {
            _negotiate = null;
            return first;
        }

        var incoming = token == null ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(token, startIndex, length);
        var outgoing = _context.GetOutgoingBlob(incoming, out var status);
        switch (status)
        {
            case NegotiateAuthenticationStatusCode.Completed:
                IsAuthenticated = true;
                _context.Dispose();
                return outgoing ?? Array.Empty<byte>();
            case NegotiateAuthenticationStatusCode.ContinueNeeded:
                return outgoing ?? Array.Empty<byte>();
            default:
                // Nothing of the challenge goes into the message: the status names the step's failure.
                _context.Dispose();
                throw new AuthenticationException($"NTLM could not answer the server's challenge ({status}).");
        }
    }
#endif
}
