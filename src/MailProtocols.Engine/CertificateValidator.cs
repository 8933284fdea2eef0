using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace MailProtocols.Engine;

/// <summary>
/// The server-certificate check of every TLS connection: the system's verdict stands unless
/// the user skipped the check. A rejection is remembered in words, so that the error can say
/// what was wrong and what to do about it.
/// </summary>
internal sealed class CertificateValidator
{
    private readonly bool _skip;

    public CertificateValidator(bool skipCertificateCheck) => _skip = skipCertificateCheck;

    /// <summary>What was wrong with the last rejected certificate, or null.</summary>
    public string? Problem { get; private set; }

    public void Reset() => Problem = null;

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (_skip || errors == SslPolicyErrors.None)
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
        return false;
    }
}
