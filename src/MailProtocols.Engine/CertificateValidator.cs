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

    /// <summary>The system's verdict on the last certificate, whatever was made of it.</summary>
    public SslPolicyErrors Errors { get; private set; }

    /// <summary>The chain statuses of the last certificate (none when the chain was fine).</summary>
    public X509ChainStatusFlags[] ChainStatus { get; private set; } = new X509ChainStatusFlags[0];

    /// <summary>The subjects of the last certificate's chain, the server's first.</summary>
    public string[] ChainSubjects { get; private set; } = new string[0];

    public void Reset()
    {
        Problem = null;
        Validated = false;
        Errors = SslPolicyErrors.None;
        ChainStatus = new X509ChainStatusFlags[0];
        ChainSubjects = new string[0];
    }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        Validated = errors == SslPolicyErrors.None;
        Errors = errors;
        if (chain != null)
        {
            // The chain is the caller's, reused after this call: only its facts are kept.
            ChainStatus = System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Select(chain.ChainStatus, c => c.Status));
            var subjects = new string[chain.ChainElements.Count];
            for (var i = 0; i < subjects.Length; i++)
            {
                subjects[i] = chain.ChainElements[i].Certificate.Subject;
            }

            ChainSubjects = subjects;
        }

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
