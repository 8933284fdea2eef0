using System.Linq;
using System.Text;
using MailProtocols.Engine.Pop3;
using MimeKit;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>The headers a message object needs, picked from a plain header block without the
/// parser: each exactly as the parser gives it, and an odd block left to the parser.</summary>
public sealed class WantedHeadersTests
{
    private static readonly HeaderId[] Wanted = { HeaderId.From, HeaderId.To, HeaderId.Cc, HeaderId.Date, HeaderId.MessageId, HeaderId.Subject };

    // The blocks of HeaderSummaryTests.Blocks whose line structure is not plain: left to the parser.
    private static readonly string[] OddBlocks = { "a line without a colon", "a blank folded line", "a space before the colon", "no blank line at the end" };

    public static TheoryData<string, string, string> Blocks()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var row in HeaderSummaryTests.Blocks)
        {
            data.Add((string)row[0], (string)row[1], "\r\n");
            data.Add((string)row[0], (string)row[1], "\n");
        }

        return data;
    }

    private static byte[] Bytes(string block, string newLine) => Encoding.UTF8.GetBytes(block.Replace("\n", newLine));

    [Theory]
    [MemberData(nameof(Blocks))]
    public void EachWantedHeaderIsTheParsersOrTheBlockIsLeftToIt(string name, string block, string newLine)
    {
        var bytes = Bytes(block, newLine);
        var parser = new MimeParser(new System.IO.MemoryStream(bytes), MimeFormat.Entity);
        var expected = parser.ParseHeaders().Where(h => Wanted.Contains(h.Id)).ToList();

        var actual = WantedHeaders.Read(bytes, 0, bytes.Length);

        if (OddBlocks.Contains(name))
        {
            Assert.Null(actual);
            return;
        }

        Assert.NotNull(actual);
        Assert.Equal(expected.Select(h => h.Field), actual!.Select(h => h.Field));
        Assert.Equal(expected.Select(h => h.RawValue), actual.Select(h => h.RawValue));
        Assert.Equal(expected.Select(h => h.Value), actual.Select(h => h.Value));
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("folded and quoted")]
    [InlineData("names in other cases")]
    [InlineData("many other headers")]
    [InlineData("a body after the block")]
    [InlineData("8-bit text")]
    [InlineData("an empty block")]
    public void APlainBlockIsReadWithoutTheParser(string name)
    {
        foreach (var newLine in new[] { "\r\n", "\n" })
        {
            var bytes = Bytes(Block(name), newLine);
            Assert.NotNull(WantedHeaders.Read(bytes, 0, bytes.Length));
        }
    }

    [Theory]
    [InlineData("a line without a colon")]
    [InlineData("a blank folded line")]
    [InlineData("a space before the colon")]
    [InlineData("no blank line at the end")]
    public void AnOddBlockIsLeftToTheParser(string name)
    {
        var bytes = Bytes(Block(name), "\r\n");
        Assert.Null(WantedHeaders.Read(bytes, 0, bytes.Length));
    }

    [Fact]
    public void ABlockThatStartsFoldedIsLeftToTheParser()
    {
        // The parser refuses it; the object is made as it always was for such a block.
        var bytes = Encoding.ASCII.GetBytes(" folded: x\r\nFrom: a@example.com\r\n\r\n");
        Assert.Null(WantedHeaders.Read(bytes, 0, bytes.Length));
    }

    [Fact]
    public void OnlyTheBlockFromTheGivenStartIsRead()
    {
        var bytes = Encoding.ASCII.GetBytes("junk\r\nSubject: here\r\n\r\nFrom: body@example.com\r\n");
        var headers = WantedHeaders.Read(bytes, 6, bytes.Length);
        Assert.Equal("here", Assert.Single(headers!).Value);
    }

    private static string Block(string name) => (string)HeaderSummaryTests.Blocks.Single(row => (string)row[0] == name)[1];
}
