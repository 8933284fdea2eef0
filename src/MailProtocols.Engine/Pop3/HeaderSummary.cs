using System;
using System.Collections.Generic;
using System.IO;
using MimeKit;
using MimeKit.Utils;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// The listing's object for a header block (TOP n 0), read from the parsed headers alone: a
/// MimeMessage, its body part and its lazily parsed address lists cost more than half of what a
/// listed message cost. The fields are what <see cref="Pop3Message.Create"/> gives from the
/// MimeMessage's getters, which read the same headers the same way; a block whose address
/// headers do not all parse strictly (where MimeMessage keeps the addresses that do) or whose
/// headers do not parse goes through the MimeMessage as before.
/// </summary>
internal static class HeaderSummary
{
    /// <summary>Parses the header block in <paramref name="stream"/> (from its start) with the
    /// fetch's reused <paramref name="parser"/>.</summary>
    public static Pop3Message Read(Pop3Entry entry, MimeParser parser, MemoryStream stream)
    {
        if (TryRead(entry, parser, stream) is { } message)
        {
            return message;
        }

        stream.Position = 0;
        return Pop3Message.Create(entry, Pop3Message.Parse(parser, stream), headersOnly: true);
    }

    /// <summary>As <see cref="Read"/>, but null where the block needs a whole parse (the caller
    /// parses it whole, which says what it makes of it). <paramref name="stream"/> may hold a
    /// whole message: only its header block is read.</summary>
    public static Pop3Message? TryRead(Pop3Entry entry, MimeParser parser, Stream stream)
    {
        if (stream is MemoryStream memory && memory.TryGetBuffer(out var block) &&
            WantedHeaders.Read(block.Array!, block.Offset + (int)memory.Position, block.Offset + block.Count) is { } wanted)
        {
            return FromHeaders(entry, wanted);
        }

        try
        {
            parser.SetStream(stream, MimeFormat.Entity, persistent: false);
            return FromHeaders(entry, parser.ParseHeaders());
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The fields from <paramref name="headers"/>; null when an address header does not
    /// parse strictly.</summary>
    internal static Pop3Message? FromHeaders(Pop3Entry entry, IList<Header> headers)
    {
        if (!TryAddresses(headers, HeaderId.From, out var from) || !TryAddresses(headers, HeaderId.To, out var to) || !TryAddresses(headers, HeaderId.Cc, out var cc))
        {
            return null;
        }

        DateTimeOffset? date = null;
        var dateAt = First(headers, HeaderId.Date);
        if (dateAt >= 0)
        {
            // As MimeMessage.Date: the first Date header; MinValue when it does not parse.
            var raw = headers[dateAt].RawValue;
            DateUtils.TryParse(raw, 0, raw.Length, out var parsed);
            date = parsed;
        }

        string? messageId = null;
        var idAt = First(headers, HeaderId.MessageId);
        if (idAt >= 0)
        {
            var raw = headers[idAt].RawValue;
            messageId = MimeUtils.ParseMessageId(raw, 0, raw.Length);
        }

        // As the header list's indexer: the first Subject header.
        var subjectAt = First(headers, HeaderId.Subject);
        return new Pop3Message
        {
            Number = entry.Number,
            Uid = entry.Uid,
            Size = entry.Size,
            Date = date,
            From = from.ToString(),
            To = Each(to),
            Cc = Each(cc),
            Subject = subjectAt >= 0 ? headers[subjectAt].Value : "",
            MessageId = messageId,
            HeadersOnly = true,
            AuthenticationMechanism = entry.AuthenticationMechanism,
        };
    }

    /// <summary>The addresses of every <paramref name="id"/> header, in order, as MimeMessage
    /// gathers them; false when one of them does not parse strictly.</summary>
    private static bool TryAddresses(IList<Header> headers, HeaderId id, out InternetAddressList addresses)
    {
        InternetAddressList? all = null;
        for (var i = 0; i < headers.Count; i++)
        {
            if (headers[i].Id != id)
            {
                continue;
            }

            var raw = headers[i].RawValue;
            if (!InternetAddressList.TryParse(ParserOptions.Default, raw, 0, raw.Length, out var parsed))
            {
                addresses = null!;
                return false;
            }

            if (all == null)
            {
                all = parsed;
            }
            else
            {
                all.AddRange(parsed);
            }
        }

        addresses = all ?? new InternetAddressList();
        return true;
    }

    private static int First(IList<Header> headers, HeaderId id)
    {
        for (var i = 0; i < headers.Count; i++)
        {
            if (headers[i].Id == id)
            {
                return i;
            }
        }

        return -1;
    }

    private static TextList<string> Each(InternetAddressList list)
    {
        if (list.Count == 0)
        {
            return new TextList<string>(Array.Empty<string>());
        }

        var each = new string[list.Count];
        for (var i = 0; i < each.Length; i++)
        {
            each[i] = list[i].ToString();
        }

        return new TextList<string>(each);
    }
}
