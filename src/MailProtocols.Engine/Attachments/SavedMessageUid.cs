using System.Collections.Generic;
using System.Text;
using MailProtocols.Engine.Pop3;

namespace MailProtocols.Engine.Attachments;

/// <summary>The UID back from the name <see cref="EmlFileName"/> gave a saved message, so that a
/// message read from its .eml file can still be deleted from the server by UID.</summary>
public static class SavedMessageUid
{
    /// <summary>The UID of <paramref name="fileName"/> (a name without folder), or null when the
    /// name is not one that <see cref="EmlFileName.FromUid"/> gives.</summary>
    public static string? FromFileName(string fileName)
    {
        if (!fileName.EndsWith(".eml", System.StringComparison.Ordinal) || fileName.Length <= 4)
        {
            return null;
        }

        var text = fileName.Substring(0, fileName.Length - 4);
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '_' && i + 2 < text.Length && IsHex(text[i + 1]) && IsHex(text[i + 2]))
            {
                bytes.Add((byte)((HexValue(text[i + 1]) << 4) | HexValue(text[i + 2])));
                i += 2;
            }
            else if (c == '_' && i == 0)
            {
                // The prefix of a name Windows reserves.
            }
            else if (c == '^' && i + 1 < text.Length)
            {
                bytes.Add((byte)char.ToUpperInvariant(text[++i]));
            }
            else if (c < 0x80)
            {
                bytes.Add((byte)c);
            }
            else
            {
                return null;
            }
        }

        string uid;
        try
        {
            uid = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            return null;
        }

        // Only a name the mapping really gives: anything else is some other file.
        return uid.Length > 0 && EmlFileName.FromUid(uid) == fileName ? uid : null;
    }

    private static bool IsHex(char c) => (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');

    private static int HexValue(char c) => c <= '9' ? c - '0' : c - 'A' + 10;
}
