namespace MailProtocols.Engine.Pop3;

/// <summary>How far a download is: messages and listed bytes handled so far, for the outcomes'
/// progress figures.</summary>
internal sealed class FetchTally
{
    public FetchTally(int total, long totalBytes)
    {
        Total = total;
        TotalBytes = totalBytes;
    }

    public int Done { get; private set; }
    public int Total { get; }
    public long Bytes { get; private set; }
    public long TotalBytes { get; }

    public void Count(Pop3Entry entry)
    {
        Done++;
        Bytes += entry.Size;
    }

    public Pop3FetchOutcome Outcome(Pop3Message? message, string? note) =>
        new() { Message = message, Note = note, Done = Done, Total = Total, Bytes = Bytes, TotalBytes = TotalBytes };
}
