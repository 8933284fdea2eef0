using System;
using System.IO;
using System.Text;
using System.Threading;
using MailProtocols.Engine;
using MailProtocols.Engine.Pop3;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class Pop3WireTests
{
    /// <summary>A stream that hands out at most <c>chunk</c> bytes per read, like a slow network.</summary>
    private sealed class TrickleStream : MemoryStream
    {
        private readonly int _chunk;

        public TrickleStream(byte[] data, int chunk) : base(data) => _chunk = chunk;

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, _chunk));
    }

    private static Pop3Wire Wire(string serverText, int chunk = int.MaxValue)
    {
        var wire = new Pop3Wire(new ConnectionSettings { Host = "test", Port = 110 }, new ProtocolTap(null));
        wire.UseStream(new TrickleStream(Encoding.ASCII.GetBytes(serverText), chunk));
        return wire;
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1)]
    [InlineData(3)]
    public void CopiesDataUndoingDotStuffingUntilTheEndMarker(int chunk)
    {
        var wire = Wire("+OK\r\nSubject: x\r\n\r\n..starts with a dot\r\n.\r\n+OK next\r\n", chunk);
        Assert.True(wire.ReadReply(CancellationToken.None).IsOk);
        var output = new MemoryStream();
        var written = wire.CopyData(output, CancellationToken.None);
        Assert.Equal("Subject: x\r\n\r\n.starts with a dot\r\n", Encoding.ASCII.GetString(output.ToArray()));
        Assert.Equal(output.Length, written);
        Assert.Equal("+OK next", wire.ReadReply(CancellationToken.None).Line);
    }

    private sealed class CountingStream : MemoryStream
    {
        public int Writes { get; private set; }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Writes++;
            base.Write(buffer, offset, count);
        }
    }

    [Fact]
    public void WritesWholeBuffersNotLines()
    {
        // Writing line by line made a garbage object per line: 100 MB of base64 cost ~50 MB of memory.
        var body = new StringBuilder();
        for (var i = 0; i < 10_000; i++)
        {
            body.Append("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n");
        }

        var wire = Wire(body + ".\r\n");
        var output = new CountingStream();
        wire.CopyData(output, CancellationToken.None);
        Assert.Equal(body.Length, output.Length);
        Assert.True(output.Writes < 20, $"{output.Writes} writes");
    }

    [Fact]
    public void CopiesLinesLongerThanTheReadBuffer()
    {
        var longLine = new string('a', 200_000);
        var wire = Wire($"{longLine}\r\n.\r\n", 70_000);
        var output = new MemoryStream();
        wire.CopyData(output, CancellationToken.None);
        Assert.Equal(longLine + "\r\n", Encoding.ASCII.GetString(output.ToArray()));
    }

    [Fact]
    public void ACloseMidMessageIsAnIOException()
    {
        var wire = Wire("Subject: x\r\n\r\nbody");
        Assert.Throws<IOException>(() => wire.CopyData(new MemoryStream(), CancellationToken.None));
    }

    [Fact]
    public void AnOverLongStatusLineIsAProtocolViolation()
    {
        var wire = Wire(new string('x', Pop3Wire.MaxStatusLine + 10) + "\r\n");
        Assert.Throws<Pop3ProtocolViolation>(() => wire.ReadReply(CancellationToken.None));
    }

    [Fact]
    public void ReadsMultiLineResponses()
    {
        var wire = Wire("+OK\r\n1 100\r\n..2 200\r\n.\r\n");
        wire.ReadReply(CancellationToken.None);
        Assert.Equal(new[] { "1 100", ".2 200" }, wire.ReadLines(1024, CancellationToken.None));
    }

    [Fact]
    public void RemovesTheFirstDotOfEveryLineThatStartsWithOne()
    {
        // RFC 1939: a line that starts with "." loses that dot whatever follows, so ".x" is "x".
        var wire = Wire("+OK\r\n.1 100\r\n..2 200\r\n...\r\n.\r\n");
        wire.ReadReply(CancellationToken.None);
        Assert.Equal(new[] { "1 100", ".2 200", ".." }, wire.ReadLines(1024, CancellationToken.None));
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1)]
    [InlineData(2)]
    public void CopiesDataRemovingTheFirstDotOfEveryLineThatStartsWithOne(int chunk)
    {
        var wire = Wire(".x\r\n..y\r\nz\r\n.\r\r\n.\r\n", chunk);
        var output = new MemoryStream();
        wire.CopyData(output, CancellationToken.None);
        Assert.Equal("x\r\n.y\r\nz\r\n\r\r\n", Encoding.ASCII.GetString(output.ToArray()));
    }

    [Theory]
    [InlineData("+OK [IN-USE] locked", true, null)]
    [InlineData("-ERR [IN-USE] Mailbox is locked", false, "IN-USE")]
    [InlineData("-ERR [sys/temp] later", false, "SYS/TEMP")]
    [InlineData("-ERR no code", false, null)]
    public void ParsesStatusAndResponseCodes(string line, bool ok, string? code)
    {
        var reply = new Pop3Reply(line);
        Assert.Equal(ok, reply.IsOk);
        if (!ok)
        {
            Assert.Equal(code, reply.ResponseCode);
        }
    }
}

public class EmlFileNameTests
{
    [Theory]
    [InlineData("1234abcd", "1234abcd.eml")]
    [InlineData("a/b", "a_2Fb.eml")]
    [InlineData("a_2Fb", "a_5F2^fb.eml")]
    [InlineData(".hidden", "_2Ehidden.eml")]
    [InlineData("CON", "^c^o^n.eml")]
    [InlineData("con", "_con.eml")]
    [InlineData("com1.x", "_com1.x.eml")]
    [InlineData("AbC", "^ab^c.eml")]
    [InlineData("x:y*z?", "x_3Ay_2Az_3F.eml")]
    public void MakesSafeNames(string uid, string expected) => Assert.Equal(expected, EmlFileName.FromUid(uid));

    [Fact]
    public void DifferentUidsNeverShareAName()
    {
        var uids = new[] { "a/b", "a_2Fb", "a:b", "a_3Ab", "A/b", "a.b", "a_2Eb" };
        var names = new System.Collections.Generic.HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var uid in uids)
        {
            Assert.True(names.Add(EmlFileName.FromUid(uid)), uid);
        }
    }

    [Fact]
    public void OnlyPortableCharactersAreUsed()
    {
        var name = EmlFileName.FromUid("<>:\"/\\|?*\u00e9 \t!~");
        Assert.Matches("^[A-Za-z0-9._^-]+$", name);
    }
}
