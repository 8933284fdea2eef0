#if NET
using System;
using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Threading;
using MailKit.Security;

namespace MailProtocols.Engine;

/// <summary>
/// SASL GSSAPI (RFC 4752) on .NET's <see cref="NegotiateAuthentication"/>: Kerberos with mutual
/// authentication, so the server proves it holds the service principal's key before the client
/// says it is done. MailKit has a GSSAPI mechanism of its own, but it fails the final
/// security-layer step against Dovecot; this one wraps its answer without encryption, as the RFC
/// asks when no security layer is chosen. Used by the SMTP and the POP3 login alike. Nothing of
/// a token leaves this class except on the wire: its errors name the principal and the step.
/// </summary>
internal sealed class GssapiMechanism : SaslMechanism
{
    /// <summary>RFC 4752 section 3.3: the bit of the security-layer mask that means "no layer".</summary>
    private const byte NoSecurityLayer = 1;

    private readonly NegotiateAuthentication _context;
    private readonly bool _explicitCredential;
    private bool _contextEstablished;
    private byte[]? _firstToken; // made by Start, before anything goes to the server

    /// <param name="service">"smtp" or "pop".</param>
    /// <param name="host">The server's name as the user gave it: the service principal is
    /// <c>service/host</c>, so a name the realm does not know fails here, not at the server.</param>
    /// <param name="credential">The current logon (<see cref="CredentialCache.DefaultNetworkCredentials"/>),
    /// or a user name (user@REALM) and password.</param>
    /// <param name="explicitCredential">True for a user name and password: errors then speak of those.</param>
    public GssapiMechanism(string service, string host, NetworkCredential credential, bool explicitCredential)
        : base(credential)
    {
        ServicePrincipal = $"{service}/{host}";
        _explicitCredential = explicitCredential;
        _context = new NegotiateAuthentication(new NegotiateAuthenticationClientOptions
        {
            Package = "Kerberos",
            Credential = credential,
            TargetName = ServicePrincipal,
            RequireMutualAuthentication = true,
            RequiredProtectionLevel = ProtectionLevel.None,
        });
    }

    public override string MechanismName => "GSSAPI";

    /// <summary>POP3 allows an initial response of at most 255 octets (RFC 5034), less than a
    /// Kerberos ticket: the token always goes in answer to the server's empty challenge.</summary>
    public override bool SupportsInitialResponse => false;

    public string ServicePrincipal { get; }

    /// <summary>Gets the ticket for <see cref="ServicePrincipal"/> and makes the first token now,
    /// before AUTH goes out: a missing ticket or a principal the realm does not know fails here,
    /// with nothing sent to the server.</summary>
    public void Start()
    {
        try
        {
            _firstToken ??= Establish(ReadOnlySpan<byte>.Empty);
        }
        catch
        {
            // A failed step ends the sign-in: the context is not used again.
            _context.Dispose();
            throw;
        }
    }

    protected override byte[] Challenge(byte[]? token, int startIndex, int length, CancellationToken cancellationToken)
    {
        var incoming = token == null ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(token, startIndex, length);
        if (_firstToken is { } first && incoming.IsEmpty)
        {
            _firstToken = null;
            return first;
        }

        try
        {
            return _contextEstablished ? ChooseSecurityLayer(incoming) : Establish(incoming);
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    /// <summary>One step of the Kerberos exchange: the AP-REQ, then the server's AP-REP checked
    /// (mutual authentication).</summary>
    private byte[] Establish(ReadOnlySpan<byte> incoming)
    {
        var outgoing = _context.GetOutgoingBlob(incoming, out var status);
        switch (status)
        {
            case NegotiateAuthenticationStatusCode.ContinueNeeded:
                return outgoing ?? Array.Empty<byte>();
            case NegotiateAuthenticationStatusCode.Completed:
                if (!_context.IsMutuallyAuthenticated)
                {
                    throw Failure("KerberosServerNotAuthenticated", MailErrorKind.SecurityError,
                        $"The server did not prove that it is {ServicePrincipal} (no mutual authentication), so the sign-in was abandoned.");
                }

                _contextEstablished = true;
                return outgoing ?? Array.Empty<byte>();
            default:
                throw EstablishFailure(status, incoming.Length == 0);
        }
    }

    /// <summary>RFC 4752 section 3.1: the server's wrapped 4-byte offer (layers, maximum size);
    /// the answer takes no layer and names no other identity to act as.</summary>
    private byte[] ChooseSecurityLayer(ReadOnlySpan<byte> incoming)
    {
        var offer = new ArrayBufferWriter<byte>();
        var status = _context.Unwrap(incoming, offer, out _);
        if (status != NegotiateAuthenticationStatusCode.Completed || offer.WrittenCount != 4)
        {
            throw Failure("KerberosSecurityLayerFailed", MailErrorKind.AuthenticationError,
                $"The server's security-layer offer after the Kerberos exchange for {ServicePrincipal} could not be read ({status}).");
        }

        if ((offer.WrittenSpan[0] & NoSecurityLayer) == 0)
        {
            throw Failure("KerberosSecurityLayerFailed", MailErrorKind.AuthenticationError,
                $"The server behind {ServicePrincipal} insists on a GSSAPI security layer (integrity or confidentiality), which this module does not use: " +
                "allow sign-in without one (TLS protects the session instead).");
        }

        var answer = new ArrayBufferWriter<byte>();
        status = _context.Wrap(new byte[] { NoSecurityLayer, 0, 0, 0 }, answer, requestEncryption: false, out _);
        if (status != NegotiateAuthenticationStatusCode.Completed)
        {
            throw Failure("KerberosSecurityLayerFailed", MailErrorKind.AuthenticationError,
                $"The answer to the security-layer offer of {ServicePrincipal} could not be made ({status}).");
        }

        IsAuthenticated = true;
        var response = answer.WrittenSpan.ToArray();

        // The last step: no security layer means the context is not used again.
        _context.Dispose();
        return response;
    }

    private MailOperationException EstablishFailure(NegotiateAuthenticationStatusCode status, bool firstStep)
    {
        switch (status)
        {
            case NegotiateAuthenticationStatusCode.UnknownCredentials:
            case NegotiateAuthenticationStatusCode.CredentialsExpired:
                if (_explicitCredential)
                {
                    return Failure("KerberosCredentialsRejected", MailErrorKind.AuthenticationError,
                        $"The KDC did not give '{Credentials.UserName}' a ticket for {ServicePrincipal} with the password given ({status}): " +
                        "check the user name (user@REALM, the realm in capitals) and the password.");
                }

                return Failure("NoKerberosLogon", MailErrorKind.AuthenticationError,
                    (status == NegotiateAuthenticationStatusCode.CredentialsExpired ? "The Kerberos ticket of the current logon has expired" : "The current logon has no Kerberos ticket") +
                    $", so -UseDefaultCredentials cannot sign in to {ServicePrincipal}. Run the command as a domain account that is signed in " +
                    "(on Linux or macOS: kinit, or a KRB5CCNAME that names a credential cache with a ticket), or give -Credential.");
            case NegotiateAuthenticationStatusCode.TargetUnknown:
                return UnknownPrincipal();
            default:
                // MIT Kerberos reports an unknown service principal (and a KDC out of reach) as a
                // general failure: at the first step that is what it almost always is.
                return firstStep
                    ? UnknownPrincipal($" ({status})")
                    : Failure("KerberosServerNotAuthenticated", MailErrorKind.SecurityError,
                        $"The server's answer did not prove that it is {ServicePrincipal} ({status}), so the sign-in was abandoned.");
        }
    }

    private MailOperationException UnknownPrincipal(string detail = "") =>
        Failure("KerberosServicePrincipalUnknown", MailErrorKind.AuthenticationError,
            $"Kerberos could not get a ticket for the service principal {ServicePrincipal}{detail}: the realm has no such principal, " +
            "or its KDC cannot be reached. Connect by the host name the server's principal is registered under (not an IP address or an alias), " +
            "or ask the domain administrators to register it.");

    private MailOperationException Failure(string id, MailErrorKind kind, string message) =>
        new(id, kind, ServicePrincipal, message) { IsSessionFailure = true };
}
#endif
