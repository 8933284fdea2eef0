using System;
using System.IO;
using System.Linq;
using System.Text;
using MailProtocols.Engine.Attachments;
using MailProtocols.Engine.Pop3;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>
/// Attachment names as a hostile sender writes them: each safe name is one plain file name that
/// stays in its folder, on Windows and on Linux.
/// </summary>
public sealed class AttachmentFileNameTests
{
    public static TheoryData<string, string> Hostile => new()
    {
        { "../../../../tmp/escaped/pwned.pdf", "pwned.pdf" },
        { "..\\..\\Windows\\System32\\evil.dll", "evil.dll" },
        { "..", "attachment.pdf" },
        { "../..", "attachment.pdf" },
        { "/etc/passwd", "passwd" },
        { "/", "attachment.pdf" },
        { "C:\\Windows\\win.ini", "win.ini" },
        { "C:evil.exe", "C_evil.exe" },
        { "D:", "D_" },
        { "\\\\server\\share\\payload.exe", "payload.exe" },
        { "\\\\?\\C:\\Windows\\payload.exe", "payload.exe" },
        { "\\\\.\\PhysicalDrive0", "PhysicalDrive0" },
        { "a\u2215..\u2215b.txt", "b.txt" },
        { "..\uFF0F..\uFF0Fx.txt", "x.txt" },
        { "..\u29F8..\u29F8y.txt", "y.txt" },
        { "..\u2044z.txt", "z.txt" },
        { "\uFF0E\uFF0E", "attachment.pdf" },
        { "re\0port.pdf", "re_port.pdf" },
        { "re\u0001po\u001Frt\u007F.pdf", "re_po_rt_.pdf" },
        { "line\r\nbreak.txt", "line__break.txt" },
        { "invoice\u202Efdp.exe", "invoice_fdp.exe" },
        { "...", "attachment.pdf" },
        { ".", "attachment.pdf" },
        { ".bashrc", "bashrc" },
        { "CON", "_CON" },
        { "con.txt", "_con.txt" },
        { "CON.txt", "_CON.txt" },
        { "com1", "_com1" },
        { "COM\u00B9.log", "_COM1.log" },
        { "LPT9.tar.gz", "_LPT9.tar.gz" },
        { "nul .txt", "_nul .txt" },
        { "aux", "_aux" },
        { "CONIN$", "_CONIN$" },
        { "console.txt", "console.txt" },
        { "report.pdf.", "report.pdf" },
        { "report.pdf . . ", "report.pdf" },
        { "  spaced.txt  ", "spaced.txt" },
        { "a<b>c:d\"e|f?g*h.txt", "a_b_c_d_e_f_g_h.txt" },
        { "", "attachment.pdf" },
        { "   ", "attachment.pdf" },
        { "\t", "attachment.pdf" },
        { "file.txt:hidden", "file.txt_hidden" },
        { "r\u00E9sum\u00E9.pdf", "r\u00E9sum\u00E9.pdf" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void HostileNamesBecomeOnePlainNameInTheFolder(string sent, string expected)
    {
        var name = AttachmentFileName.Make(sent, "application/pdf");

        Assert.Equal(expected, name);
        AssertStaysInFolder(name);
    }

    [Fact]
    public void AMissingNameComesFromTheContentType()
    {
        Assert.Equal("attachment.pdf", AttachmentFileName.Make(null, "application/pdf"));
        Assert.Equal("attachment.png", AttachmentFileName.Make(null, "image/png"));
        Assert.Equal("attachment.bin", AttachmentFileName.Make(null, "application/x-unknown-thing"));
        Assert.Equal("attachment.bin", AttachmentFileName.Make("", null));
    }

    [Fact]
    public void AnOverLongNameIsCutToTheLimitKeepingItsExtension()
    {
        var name = AttachmentFileName.Make(new string('a', 5000) + ".pdf", "application/pdf");

        Assert.True(Encoding.UTF8.GetByteCount(name) <= AttachmentFileName.MaxBytes);
        Assert.EndsWith(".pdf", name);
        AssertStaysInFolder(name);
    }

    [Fact]
    public void AnOverLongNameIsCutBetweenCharactersNeverInsideOne()
    {
        // Four bytes of UTF-8 each, two UTF-16 units: a cut inside one would leave half a character.
        var name = AttachmentFileName.Make(string.Concat(Enumerable.Repeat("\U0001F600", 300)) + ".txt", "text/plain");

        Assert.True(Encoding.UTF8.GetByteCount(name) <= AttachmentFileName.MaxBytes);
        Assert.EndsWith(".txt", name);
        Assert.DoesNotContain('\uFFFD', Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(name)));
        Assert.Equal(0, (name.Length - 4) % 2);
    }

    [Fact]
    public void AnOverLongNameOfDotsAndSlashesStaysInTheFolder()
    {
        var name = AttachmentFileName.Make(string.Concat(Enumerable.Repeat("../", 2000)) + new string('.', 300), "application/pdf");

        Assert.Equal("attachment.pdf", name);
    }

    [Fact]
    public void AnUnpairedSurrogateIsReplaced()
    {
        var name = AttachmentFileName.Make("bad\uD800name.txt", "text/plain");

        Assert.Equal("bad_name.txt", name);
    }

    [Fact]
    public void ASuffixGoesBeforeTheExtension()
    {
        Assert.Equal("report (1a2b3c4d).csv", AttachmentFileName.WithSuffix("report.csv", "1a2b3c4d"));
        Assert.Equal("README (1a2b3c4d)", AttachmentFileName.WithSuffix("README", "1a2b3c4d"));
        Assert.Equal("_CON (1a2b3c4d).txt", AttachmentFileName.WithSuffix("_CON.txt", "1a2b3c4d"));
    }

    private static void AssertStaysInFolder(string name)
    {
        var folder = Path.Combine(Path.GetTempPath(), "attachments");
        var full = Path.GetFullPath(Path.Combine(folder, name));
        Assert.Equal(folder, Path.GetDirectoryName(full));
        Assert.Equal(name, Path.GetFileName(name));
        Assert.DoesNotContain('/', name);
        Assert.DoesNotContain('\\', name);
        Assert.DoesNotContain(':', name);
        Assert.DoesNotContain('\0', name);
        Assert.False(name.StartsWith(".", StringComparison.Ordinal));
        Assert.False(name.EndsWith(".", StringComparison.Ordinal) || name.EndsWith(" ", StringComparison.Ordinal));
        Assert.True(name.All(c => c >= 0x20 && c != 0x7F));
    }
}
