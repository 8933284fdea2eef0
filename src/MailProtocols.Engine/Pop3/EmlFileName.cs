using System;
using System.Text;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// File names for saved messages, derived from the UID so that a re-run finds what it saved.
/// UIDs are case-sensitive and Windows file names are not, so: lower-case letters, digits, '-'
/// and '.' stay; an upper-case letter becomes '^' and the letter in lower case; every other
/// byte of the UID's UTF-8 form becomes '_' and two hex digits. The mapping is one-to-one even
/// on a case-insensitive file system. Names Windows reserves (CON, NUL, COM1...) get a '_' prefix.
/// </summary>
public static class EmlFileName
{
    private static readonly string[] Reserved =
    {
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
        "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    };

    public static string FromUid(string uid)
    {
        if (string.IsNullOrEmpty(uid))
        {
            throw new ArgumentException("A UID is needed to name a saved message.", nameof(uid));
        }

        var name = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(uid))
        {
            var c = (char)b;
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || (c == '.' && name.Length > 0))
            {
                name.Append(c);
            }
            else if (c >= 'A' && c <= 'Z')
            {
                name.Append('^').Append(char.ToLowerInvariant(c));
            }
            else
            {
                name.Append('_').Append(b.ToString("X2"));
            }
        }

        var text = name.ToString();
        var stem = text.Split('.')[0];
        if (Array.IndexOf(Reserved, stem.ToUpperInvariant()) >= 0)
        {
            text = "_" + text;
        }

        // A trailing dot would be dropped by Windows; ".eml" follows, so none is left at the end.
        return text + ".eml";
    }

    /// <summary>The UID a file name was made from by <see cref="FromUid"/>, or null for a name it
    /// cannot have made, or one that names no RFC 1939 UID (1 to 70 characters 0x21-0x7E, what
    /// Remove-Pop3Message takes). A name in the same alphabet ("report.eml") cannot be told apart
    /// from a saved message's.</summary>
    public static string? ToUid(string fileName)
    {
        if (fileName == null || !fileName.EndsWith(".eml", StringComparison.Ordinal))
        {
            return null;
        }

        var stem = fileName.Substring(0, fileName.Length - 4);
        var bytes = new System.Collections.Generic.List<byte>(stem.Length);
        var start = stem.StartsWith("_", StringComparison.Ordinal) && !IsHexEscape(stem, 0) ? 1 : 0;
        for (var i = start; i < stem.Length; i++)
        {
            var c = stem[i];
            if (c == '^' && i + 1 < stem.Length && stem[i + 1] >= 'a' && stem[i + 1] <= 'z')
            {
                bytes.Add((byte)char.ToUpperInvariant(stem[++i]));
            }
            else if (IsHexEscape(stem, i))
            {
                bytes.Add(Convert.ToByte(stem.Substring(i + 1, 2), 16));
                i += 2;
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

        if (bytes.Count == 0 || bytes.Count > 70 || bytes.Exists(b => b < 0x21 || b > 0x7E))
        {
            return null;
        }

        var uid = Encoding.ASCII.GetString(bytes.ToArray());

        // Only the one spelling FromUid gives: the mapping is one-to-one only that way round.
        return string.Equals(FromUid(uid), fileName, StringComparison.Ordinal) ? uid : null;
    }

    private static bool IsHexEscape(string text, int i) =>
        text[i] == '_' && i + 2 < text.Length && IsUpperHex(text[i + 1]) && IsUpperHex(text[i + 2]);

    private static bool IsUpperHex(char c) => (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}
