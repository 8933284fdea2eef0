using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace MailProtocols.Engine;

/// <summary>What a TLS handshake negotiated: how TLS was reached, the protocol version, the
/// cipher suite, and the server's certificate with the system's verdict on it.</summary>
public sealed class TlsReport
{
    /// <summary>"Implicit" (TLS from the first byte) or "StartTls".</summary>
    public string Method { get; set; } = "";

    /// <summary>e.g. "Tls13".</summary>
    public string Protocol { get; set; } = "";

    /// <summary>e.g. "TLS_AES_256_GCM_SHA384".</summary>
    public string CipherSuite { get; set; } = "";

    public CertificateReport? Certificate { get; set; }

    public override string ToString() => $"{Protocol} ({Method}) {CipherSuite}";

    /// <summary>The report of the TLS layer of a connection just set up.</summary>
    internal static TlsReport From(SslStream ssl, string method, CertificateValidator validator)
    {
#if NET
        var cipher = ssl.NegotiatedCipherSuite.ToString();
#else
        var cipher = $"{ssl.CipherAlgorithm} {ssl.HashAlgorithm} {ssl.KeyExchangeAlgorithm}";
#endif
        var remote = ssl.RemoteCertificate;
        return new TlsReport
        {
            Method = method,
            Protocol = ssl.SslProtocol.ToString(),
            CipherSuite = cipher,
            Certificate = remote == null ? null : CertificateReport.From(new X509Certificate2(remote), validator),
        };
    }
}

/// <summary>The server's certificate as a probe reports it: who it is for, who issued it, how long
/// it is valid, and why the system's check failed, if it did (the probe goes on either way).</summary>
public sealed class CertificateReport
{
    public string Subject { get; set; } = "";

    /// <summary>The DNS names and addresses the certificate is for.</summary>
    public TextList<string> SubjectAlternativeNames { get; set; } = TextList<string>.None;

    public string Issuer { get; set; } = "";

    public DateTime NotBefore { get; set; }

    public DateTime NotAfter { get; set; }

    /// <summary>Whole days from now to <see cref="NotAfter"/>; negative once it has expired.</summary>
    public int DaysToExpiry { get; set; }

    public string Thumbprint { get; set; } = "";

    /// <summary>The subjects of the chain the system built, the server's certificate first.</summary>
    public TextList<string> Chain { get; set; } = TextList<string>.None;

    /// <summary>True when the system's check passed (the host name, the chain to a trusted root, the dates).</summary>
    public bool Valid { get; set; }

    /// <summary>The problem name of a certificate of the chain, not the server's own, that is
    /// expired or not yet valid.</summary>
    public const string ChainNotTimeValid = "ChainNotTimeValid";

    /// <summary>Why the check failed: NameMismatch, UntrustedRoot, PartialChain, Expired,
    /// NotYetValid (the server's certificate), ChainNotTimeValid (another of the chain), Revoked,
    /// RevocationUnknown (only with -CheckCertificateRevocation, which is off by default),
    /// NotAvailable, or another chain status.</summary>
    public TextList<string> Problems { get; set; } = TextList<string>.None;

    /// <summary>The certificate itself.</summary>
    public X509Certificate2? RawCertificate { get; set; }

    public override string ToString() => $"{Subject} (expires {NotAfter:yyyy-MM-dd}{(Valid ? "" : "; " + Problems)})";

    internal static CertificateReport From(X509Certificate2 certificate, CertificateValidator validator)
    {
        var problems = new List<string>();
        var errors = validator.Errors;
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            problems.Add("NameMismatch");
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            problems.Add("NotAvailable");
        }

        foreach (var status in validator.ChainStatus)
        {
            foreach (X509ChainStatusFlags flag in Enum.GetValues(typeof(X509ChainStatusFlags)))
            {
                if (flag != X509ChainStatusFlags.NoError && (status & flag) == flag)
                {
                    var name = flag switch
                    {
                        X509ChainStatusFlags.NotTimeValid => TimeProblem(certificate.NotBefore, certificate.NotAfter, DateTime.Now),
                        X509ChainStatusFlags.RevocationStatusUnknown or X509ChainStatusFlags.OfflineRevocation => "RevocationUnknown",
                        _ => flag.ToString(),
                    };
                    if (!problems.Contains(name))
                    {
                        problems.Add(name);
                    }
                }
            }
        }

        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0 && validator.ChainStatus.Length == 0)
        {
            problems.Add("ChainErrors");
        }

        return new CertificateReport
        {
            Subject = certificate.Subject,
            SubjectAlternativeNames = new TextList<string>(AlternativeNames(certificate)),
            Issuer = certificate.Issuer,
            NotBefore = certificate.NotBefore,
            NotAfter = certificate.NotAfter,
            DaysToExpiry = (int)Math.Floor((certificate.NotAfter - DateTime.Now).TotalDays),
            Thumbprint = certificate.Thumbprint,
            Chain = new TextList<string>(validator.ChainSubjects),
            Valid = errors == SslPolicyErrors.None,
            Problems = new TextList<string>(problems),
            RawCertificate = certificate,
        };
    }

    /// <summary>The problem a NotTimeValid chain status names: the chain status does not say
    /// which certificate it is about, so the server's own dates decide.</summary>
    internal static string TimeProblem(DateTime notBefore, DateTime notAfter, DateTime now) =>
        notAfter < now ? "Expired" : notBefore > now ? "NotYetValid" : ChainNotTimeValid;

    private static List<string> AlternativeNames(X509Certificate2 certificate)
    {
        var names = new List<string>();
#if NET
        foreach (var raw in certificate.Extensions.Cast<X509Extension>().Where(e => e.Oid?.Value == "2.5.29.17"))
        {
            var extension = new X509SubjectAlternativeNameExtension(raw.RawData);
            names.AddRange(extension.EnumerateDnsNames());
            names.AddRange(extension.EnumerateIPAddresses().Select(a => a.ToString()));
        }
#else
        // .NET Framework has no parser for the extension: its text, "DNS Name=a, IP Address=b", is split.
        foreach (var extension in certificate.Extensions.Cast<X509Extension>().Where(e => e.Oid?.Value == "2.5.29.17"))
        {
            foreach (var part in extension.Format(false).Split(new[] { ", " }, StringSplitOptions.RemoveEmptyEntries))
            {
                var separator = part.IndexOfAny(new[] { '=', ':' });
                names.Add(separator >= 0 ? part.Substring(separator + 1).Trim() : part.Trim());
            }
        }
#endif
        return names;
    }
}
