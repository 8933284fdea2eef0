using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace MailProtocols.Engine.OAuth;

/// <summary>Finds the app's certificate by thumbprint: the user's personal store first, then the
/// machine's (on Linux and macOS, .NET's own X509Store folders).</summary>
public static class CertificateStore
{
    /// <summary>The certificate with <paramref name="thumbprint"/> (spaces and case ignored);
    /// throws CertificateNotFound when neither store has it.</summary>
    public static X509Certificate2 FindByThumbprint(string thumbprint)
    {
        // Only the hex digits: a thumbprint copied from Windows' certificate dialog starts with an
        // invisible U+200E, and others come with spaces or colons.
        var wanted = Regex.Replace(thumbprint, "[^0-9A-Fa-f]", "").ToUpperInvariant();
        if (wanted.Length != 40)
        {
            throw new MailOperationException("InvalidCertificateThumbprint", MailErrorKind.InvalidArgument, thumbprint,
                $"'{wanted}' is not a certificate thumbprint: a SHA-1 thumbprint has 40 hex digits, this one {wanted.Length}. " +
                "Copy it from the app registration's Certificates & secrets page or from (Get-PfxCertificate <file>).Thumbprint.")
            { IsSessionFailure = true };
        }

        foreach (var location in new[] { StoreLocation.CurrentUser, StoreLocation.LocalMachine })
        {
            using var store = new X509Store(StoreName.My, location);
            try
            {
                store.Open(OpenFlags.ReadOnly | OpenFlags.OpenExistingOnly);
            }
            catch (System.Security.Cryptography.CryptographicException)
            {
                continue; // no such store here (e.g. LocalMachine\My on a machine that has none)
            }

            var found = store.Certificates.Find(X509FindType.FindByThumbprint, wanted, validOnly: false);
            foreach (var certificate in found)
            {
                if (certificate.HasPrivateKey)
                {
                    return certificate;
                }
            }

            if (found.Count > 0)
            {
                return found[0];
            }
        }

        throw new MailOperationException("CertificateNotFound", MailErrorKind.ObjectNotFound, thumbprint,
            $"No certificate with the thumbprint {wanted} is in the CurrentUser\\My or LocalMachine\\My certificate store of this " +
            "account. Import the app's certificate with its private key (Import-PfxCertificate on Windows; on Linux and macOS, " +
            "add it to .NET's X509Store CurrentUser\\My), or pass it with -Certificate.") { IsSessionFailure = true };
    }
}
