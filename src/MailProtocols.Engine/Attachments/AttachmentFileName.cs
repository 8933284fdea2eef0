using System;
using System.Globalization;
using System.Text;

namespace MailProtocols.Engine.Attachments;

/// <summary>
/// A file name for an attachment, safe by construction whatever the sender wrote: only the final
/// component of the name (after any slash, backslash or look-alike slash, after Unicode
/// compatibility folding, which turns fullwidth slashes and dots into ASCII ones); characters
/// that Windows or Linux refuse, and control and format characters (bidirectional overrides),
/// replaced by '_'; no leading dot or space and no trailing dot or space (Windows drops those, so
/// two names would be one file; a leading dot would hide it, and the writer's temporary names
/// start with one); Windows device names prefixed with '_'; at most <see cref="MaxBytes"/> bytes
/// of UTF-8, the extension kept; and a name from the content type when nothing is left.
/// </summary>
public static class AttachmentFileName
{
    /// <summary>The longest name in UTF-8 bytes: below the 255 of ext4 and NTFS, with room for a
    /// suffix and the writer's temporary name around it.</summary>
    public const int MaxBytes = 180;

    private const int MaxExtensionLength = 16;

    private static readonly string[] Reserved =
    {
        "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$",
        "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
        "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    };

    // Path separators, and characters drawn like them that a viewer, or a program converting the
    // name to a legacy code page ("best fit"), may take for one.
    private const string Separators = "/\\\u2215\u2044\u29F8\u29F9\u2216\u29F5\uFF0F\uFF3C\uFE68\u2571\u2572\u244A";

    private const string Invalid = "<>:\"|?*";

    /// <summary>The safe name for an attachment the sender named <paramref name="sent"/> (null or
    /// empty when it has no name), of MIME type <paramref name="contentType"/>.</summary>
    public static string Make(string? sent, string? contentType)
    {
        var name = FinalComponent(Fold(sent ?? ""));
        name = Clean(name);
        if (name.Length == 0)
        {
            return FromContentType(contentType);
        }

        name = Shorten(name);
        if (IsReserved(name))
        {
            name = "_" + name;
        }

        return Checked(name);
    }

    /// <summary><paramref name="name"/> (a safe name) with <paramref name="suffix"/> before its
    /// extension: "report.csv" and "1a2b" give "report (1a2b).csv".</summary>
    public static string WithSuffix(string name, string suffix)
    {
        var dot = ExtensionStart(name);
        var stem = dot < 0 ? name : name.Substring(0, dot);
        var extension = dot < 0 ? "" : name.Substring(dot);
        return Checked($"{stem} ({suffix}){extension}");
    }

    /// <summary>The name for an attachment without one: "attachment" and the extension of its
    /// content type (".bin" when the type has none).</summary>
    public static string FromContentType(string? contentType)
    {
        var extension = ".bin";
        if (!string.IsNullOrWhiteSpace(contentType) && MimeKit.MimeTypes.TryGetExtension(contentType!.Trim(), out var known)
            && Clean(known).Length > 1 && Clean(known).Length <= MaxExtensionLength)
        {
            extension = "." + Clean(known).TrimStart('.');
        }

        return Checked("attachment" + extension);
    }

    /// <summary>Replaces unpaired surrogates (no file system takes them) and folds compatibility
    /// characters: fullwidth solidus and full stop become '/' and '.', superscript digits
    /// digits (so that "COM¹" is found reserved).</summary>
    private static string Fold(string text)
    {
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(chars[i]))
            {
                chars[i] = '_';
            }
        }

        try
        {
            return new string(chars).Normalize(NormalizationForm.FormKC);
        }
        catch (ArgumentException)
        {
            // A code point the platform cannot normalize: the name is cleaned as it is.
            return new string(chars);
        }
    }

    private static string FinalComponent(string text)
    {
        var last = text.LastIndexOfAny(Separators.ToCharArray());
        return last < 0 ? text : text.Substring(last + 1);
    }

    /// <summary>Replaces refused and invisible characters and trims the ends.</summary>
    private static string Clean(string text)
    {
        // Whitespace at the ends (tabs, line breaks too) goes before the rest is replaced.
        text = Trim(text);
        var name = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            var category = char.GetUnicodeCategory(c);
            var bad = c < 0x20 || Invalid.IndexOf(c) >= 0 || Separators.IndexOf(c) >= 0
                || category == UnicodeCategory.Control || category == UnicodeCategory.Format
                || category == UnicodeCategory.LineSeparator || category == UnicodeCategory.ParagraphSeparator;
            name.Append(bad ? '_' : c);
        }

        return Trim(name.ToString());
    }

    private static string Trim(string text)
    {
        var start = 0;
        while (start < text.Length && (text[start] == '.' || char.IsWhiteSpace(text[start])))
        {
            start++;
        }

        var end = text.Length;
        while (end > start && (text[end - 1] == '.' || char.IsWhiteSpace(text[end - 1])))
        {
            end--;
        }

        return text.Substring(start, end - start);
    }

    /// <summary>Cuts the stem, whole characters at a time, until the name fits in
    /// <see cref="MaxBytes"/>; keeps a short extension.</summary>
    private static string Shorten(string name)
    {
        if (Encoding.UTF8.GetByteCount(name) <= MaxBytes)
        {
            return name;
        }

        var dot = ExtensionStart(name);
        var extension = dot > 0 && name.Length - dot <= MaxExtensionLength ? name.Substring(dot) : "";
        var stem = extension.Length == 0 ? name : name.Substring(0, dot);
        var budget = MaxBytes - Encoding.UTF8.GetByteCount(extension);
        var kept = new StringBuilder();
        var used = 0;
        var elements = StringInfo.GetTextElementEnumerator(stem);
        while (elements.MoveNext())
        {
            var element = (string)elements.Current;
            var size = Encoding.UTF8.GetByteCount(element);
            if (used + size > budget)
            {
                break;
            }

            kept.Append(element);
            used += size;
        }

        var shortened = Trim(kept.ToString());
        return (shortened.Length == 0 ? "attachment" : shortened) + extension;
    }

    private static bool IsReserved(string name)
    {
        var dot = name.IndexOf('.');
        var stem = (dot < 0 ? name : name.Substring(0, dot)).TrimEnd(' ');
        return Array.IndexOf(Reserved, stem.ToUpperInvariant()) >= 0;
    }

    private static int ExtensionStart(string name)
    {
        var dot = name.LastIndexOf('.');
        return dot > 0 ? dot : -1;
    }

    /// <summary>The promise of this class, checked once more: a name that could leave its folder
    /// is a bug here, never a file.</summary>
    private static string Checked(string name)
    {
        if (name.Length == 0 || name == "." || name == ".." || name.IndexOfAny(Separators.ToCharArray()) >= 0
            || name.IndexOf('\0') >= 0 || name.IndexOf(':') >= 0 || name[0] == '.' || name[name.Length - 1] == '.'
            || name[name.Length - 1] == ' ' || Encoding.UTF8.GetByteCount(name) > MaxBytes + 64)
        {
            throw new InvalidOperationException($"'{name}' is not a safe attachment file name.");
        }

        return name;
    }
}
