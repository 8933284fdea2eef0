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
}
