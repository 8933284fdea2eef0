using System;
using System.Collections.Generic;
using MimeKit;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// The headers a message object is made from (From, To, Cc, Date, Message-ID, Subject), picked
/// from a header block held in memory without parsing the others: a mailbox's messages carry
/// Received, DKIM-Signature and many more, and parsing every header was most of what reading a
/// header block cost. Each wanted header is parsed by MimeKit, as its parser would; a block whose
/// line structure is anything but plain (a line without a field name and colon, a blank folded
/// line, no blank line at its end) is left to the parser, which says what it makes of it.
/// </summary>
internal static class WantedHeaders
{
    /// <summary>The wanted headers of the block at <paramref name="start"/> in
    /// <paramref name="buffer"/> (up to <paramref name="end"/>), in order; null where the parser
    /// must read the block.</summary>
    public static List<Header>? Read(byte[] buffer, int start, int end)
    {
        var headers = new List<Header>(8);
        var at = start;
        while (at < end)
        {
            var lineEnd = Array.IndexOf(buffer, (byte)'\n', at, end - at);
            if (lineEnd < 0)
            {
                return null;
            }

            if (lineEnd == at || (lineEnd == at + 1 && buffer[at] == (byte)'\r'))
            {
                return headers;
            }

            var colon = at;
            while (colon < lineEnd && buffer[colon] > 32 && buffer[colon] < 127 && buffer[colon] != (byte)':')
            {
                colon++;
            }

            if (colon == at || buffer[colon] != (byte)':')
            {
                return null;
            }

            // The header's folded lines.
            var next = lineEnd + 1;
            while (next < end && (buffer[next] == (byte)' ' || buffer[next] == (byte)'\t'))
            {
                lineEnd = Array.IndexOf(buffer, (byte)'\n', next, end - next);
                if (lineEnd < 0 || IsBlank(buffer, next, lineEnd))
                {
                    return null;
                }

                next = lineEnd + 1;
            }

            if (IsWanted(buffer, at, colon - at))
            {
                if (!Header.TryParse(ParserOptions.Default, buffer, at, next - at, out var header))
                {
                    return null;
                }

                headers.Add(header);
            }

            at = next;
        }

        return null;
    }

    private static bool IsBlank(byte[] buffer, int from, int lineEnd)
    {
        for (var i = from; i < lineEnd; i++)
        {
            if (buffer[i] != (byte)' ' && buffer[i] != (byte)'\t' && buffer[i] != (byte)'\r')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsWanted(byte[] buffer, int at, int length) => length switch
    {
        2 => Is(buffer, at, "to") || Is(buffer, at, "cc"),
        4 => Is(buffer, at, "from") || Is(buffer, at, "date"),
        7 => Is(buffer, at, "subject"),
        10 => Is(buffer, at, "message-id"),
        _ => false,
    };

    /// <summary>True when the field name at <paramref name="at"/> is <paramref name="lowerName"/>,
    /// in any case.</summary>
    private static bool Is(byte[] buffer, int at, string lowerName)
    {
        for (var i = 0; i < lowerName.Length; i++)
        {
            if ((buffer[at + i] | 0x20) != lowerName[i])
            {
                return false;
            }
        }

        return true;
    }
}
