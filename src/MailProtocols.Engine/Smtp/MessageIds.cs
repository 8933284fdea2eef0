using System;
using System.Security.Cryptography;
using MimeKit.Utils;

namespace MailProtocols.Engine.Smtp;

/// <summary>Message-IDs for the messages the composer makes: 128 random bits in hex at the host
/// name MimeKit would use. Asked per message, MimeKit spends microseconds on a system call for
/// random bytes and on an IDN encoding of the host name; here the name is learned once and the
/// random bytes are drawn for many messages at a time.</summary>
internal static class MessageIds
{
    private const int Bytes = 16;
    private static readonly string Domain = DomainOf(MimeUtils.GenerateMessageId());
    private static readonly RandomNumberGenerator Random = RandomNumberGenerator.Create();

    // Per thread: runspaces on other threads compose at the same time.
    [ThreadStatic]
    private static byte[]? t_pool;

    [ThreadStatic]
    private static int t_next;

    public static string Next()
    {
        var pool = t_pool ??= new byte[Bytes * 64];
        if (t_next == 0)
        {
            Random.GetBytes(pool);
        }

        var id = new char[Bytes * 2 + 1 + Domain.Length];
        for (var i = 0; i < Bytes; i++)
        {
            var b = pool[t_next + i];
            id[2 * i] = Hex(b >> 4);
            id[2 * i + 1] = Hex(b & 0xf);
        }

        // Each byte is used once: a pool drawn again before any of it is reused.
        t_next = (t_next + Bytes) % pool.Length;
        id[Bytes * 2] = '@';
        Domain.CopyTo(0, id, Bytes * 2 + 1, Domain.Length);
        return new string(id);
    }

    private static char Hex(int nibble) => (char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);

    private static string DomainOf(string id) => id.Substring(id.LastIndexOf('@') + 1);
}
