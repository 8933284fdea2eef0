using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace MailProtocols.Engine;

/// <summary>
/// The server-certificate check of every TLS connection: the system's verdict stands unless
/// the user skipped the check, or unless the encryption is opportunistic (RFC 7435: TLS that
/// the user did not ask for, with no credentials to protect), where a certificate that fails
/// the check still gives an encrypted session. Either way the problem is remembered in words,
/// so that the error or warning can say what was wrong and what to do about it.
/// </summary>
internal sealed class CertificateValidator
{
    private readonly bool _skip;
    private readonly bool _opportunistic;

    public CertificateValidator(bool skipCertificateCheck, bool opportunistic)
    {
        _skip = skipCertificateCheck;
        _opportunistic = opportunistic;
    }

    /// <summary>What was wrong with the last certificate that failed the check, or null.</summary>
    public string? Problem { get; private set; }

    /// <summary>True when the last certificate passed the system's check.</summary>
    public bool Validated { get; private set; }

    public void Reset()
    {
        Problem = null;
        Validated = false;
    }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        Validated = errors == SslPolicyErrors.None;
        if (_skip || Validated)
        {
            return true;
        }

        var detail = errors.ToString();
        if (chain != null && (errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            foreach (var status in chain.ChainStatus)
            {
                detail += $"; {status.Status}";
            }
        }

        Problem = certificate == null
            ? detail
            : $"{detail} (subject {certificate.Subject}, issuer {certificate.Issuer}, expires {certificate.GetExpirationDateString()})";
        return _opportunistic;
    }
}
