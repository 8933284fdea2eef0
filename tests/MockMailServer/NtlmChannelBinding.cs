using System;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace MockMail;

/// <summary>
/// The NTLM channel binding a client must send on a TLS session with the mock's certificate, and
/// where it is in an AUTHENTICATE message. The mock checks it itself: on Linux, .NET's server-side
/// NegotiateAuthentication rejects an ExtendedProtectionPolicy (PlatformNotSupportedException) and
/// does not hand its Binding to gss-ntlmssp (an answer without a binding, or with a wrong one, is
/// accepted), and the server side of SslStream cannot give the tls-server-end-point binding.
/// </summary>
internal static class NtlmChannelBinding
{
    private const int AuthenticateType = 3;
    private const ushort MsvAvEol = 0;
    private const ushort MsvAvChannelBindings = 10;

    /// <summary>MS-NLMP 2.2.2.1 MsvAvChannelBindings: the MD5 hash of a gss_channel_bindings_struct
    /// with no addresses whose application data is the tls-server-end-point binding of
    /// <paramref name="certificate"/> (RFC 5929 section 4).</summary>
    public static byte[] Expected(X509Certificate certificate)
    {
        using var cert = new X509Certificate2(certificate);
        byte[] prefix = Encoding.ASCII.GetBytes("tls-server-end-point:");
        byte[] hash = CertificateHash(cert.SignatureAlgorithm.Value, cert.RawData);

        // initiator addrtype and address length, acceptor addrtype and address length (all zero),
        // application data length, application data: 32-bit fields little-endian.
        var bindings = new byte[20 + prefix.Length + hash.Length];
        BinaryPrimitives.WriteInt32LittleEndian(bindings.AsSpan(16), prefix.Length + hash.Length);
        prefix.CopyTo(bindings, 20);
        hash.CopyTo(bindings, 20 + prefix.Length);
        return MD5.HashData(bindings);
    }

    /// <summary>For an AUTHENTICATE message with an NTLMv2 response (MS-NLMP 2.2.1.3, 2.2.2.7):
    /// its MsvAvChannelBindings value, empty when it has none; null for any other message.</summary>
    public static byte[]? In(byte[] message)
    {
        if (message.Length < 28 || BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(8)) != AuthenticateType)
        {
            return null;
        }

        int length = BinaryPrimitives.ReadUInt16LittleEndian(message.AsSpan(20));
        int offset = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(24));
        int end = offset + length;
        if (length <= 24 || offset < 0 || end > message.Length)
        {
            return Array.Empty<byte>();
        }

        // NTProofStr (16 bytes), then the fixed fields of the client's challenge (28 bytes), then AV pairs.
        int pair = offset + 16 + 28;
        while (pair + 4 <= end)
        {
            ushort id = BinaryPrimitives.ReadUInt16LittleEndian(message.AsSpan(pair));
            int size = BinaryPrimitives.ReadUInt16LittleEndian(message.AsSpan(pair + 2));
            if (id == MsvAvEol || pair + 4 + size > end)
            {
                break;
            }

            if (id == MsvAvChannelBindings)
            {
                return message.AsSpan(pair + 4, size).IndexOfAnyExcept((byte)0) >= 0 ? message.AsSpan(pair + 4, size).ToArray() : Array.Empty<byte>();
            }

            pair += 4 + size;
        }

        return Array.Empty<byte>();
    }

    /// <summary>The certificate's signature hash, except that MD5 and SHA-1 become SHA-256 (RFC 5929).</summary>
    private static byte[] CertificateHash(string? signatureAlgorithm, byte[] certificate) => signatureAlgorithm switch
    {
        "1.2.840.113549.1.1.12" or "1.2.840.10045.4.3.3" => SHA384.HashData(certificate),
        "1.2.840.113549.1.1.13" or "1.2.840.10045.4.3.4" => SHA512.HashData(certificate),
        _ => SHA256.HashData(certificate),
    };
}
