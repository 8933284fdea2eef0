using System;
using System.Text;
using MailKit;

namespace MailProtocols.Engine;

/// <summary>
/// The optional transcript file, written through MailKit's <see cref="ProtocolLogger"/>, and the
/// verb of the last command sent, for errors that say where a session broke. Message data is
/// summarized in the transcript as one line giving its size, unless the caller asks for the data
/// itself.
/// </summary>
internal sealed class ProtocolTap : IDisposable
{
    private static readonly string[] KnownCommands =
    {
        "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT",
        "CAPA", "STLS", "USER", "PASS", "APOP", "STAT", "LIST", "UIDL", "TOP", "RETR", "DELE",
    };

    private readonly ProtocolLogger? _transcript;
    private readonly bool _recordMessageData;
    private long _dataBytes; // message data held back from the transcript so far
    private bool _tokenExchange; // the last command was AUTH GSSAPI or AUTH NTLM: its challenges are tokens

    public ProtocolTap(string? transcriptPath, bool recordMessageData = false)
    {
        _recordMessageData = recordMessageData;
        if (transcriptPath != null && transcriptPath.Length > 0)
        {
            _transcript = new ProtocolLogger(transcriptPath, append: true) { LogTimestamps = true };
        }
    }

    /// <summary>The verb of the last command line the client sent (e.g. "RCPT"), or null.</summary>
    public string? LastCommand { get; private set; }

    /// <summary>Writes a line of the engine's own into the transcript (e.g. a retry notice).</summary>
    public void Note(string text)
    {
        if (_transcript == null)
        {
            return;
        }

        var bytes = Encoding.UTF8.GetBytes("# " + text + "\r\n");
        _transcript.Stream.Write(bytes, 0, bytes.Length);
        _transcript.Stream.Flush();
    }

    public void LogConnect(Uri uri)
    {
        NoteUnfinishedData();
        LastCommand = null;
        _transcript?.LogConnect(uri);
    }

    public void LogClient(byte[] buffer, int offset, int count)
    {
        NoteCommands(buffer, offset, count);
        _transcript?.LogClient(buffer, offset, count);
    }

    /// <summary>Logs message data the client sends: recorded,
    /// or counted for the one summary line that <see cref="EndData"/> writes.</summary>
    public void LogData(byte[] buffer, int offset, int count)
    {
        if (_recordMessageData)
        {
            _transcript?.LogClient(buffer, offset, count);
        }
        else
        {
            _dataBytes += count;
        }
    }

    /// <summary>The message data is complete: its summary line, followed by the "." line when
    /// <paramref name="dotLine"/> (DATA; a BDAT chunk has none).</summary>
    public void EndData(bool dotLine)
    {
        if (!_recordMessageData)
        {
            WriteDataSummary(dotLine ? "" : null);
        }
    }

    public void LogServer(byte[] buffer, int offset, int count)
    {
        if (_transcript == null)
        {
            return;
        }

        if (_tokenExchange && ChallengePrefix(buffer, offset, count) is { } prefix)
        {
            // The server's Kerberos tokens (its AP-REP, the wrapped security-layer offer) and its
            // NTLM challenge (with the client's answer, the stuff of an offline password guess)
            // are kept out of the transcript as the client's are.
            var redacted = Encoding.ASCII.GetBytes(prefix + "********\r\n");
            _transcript.LogServer(redacted, 0, redacted.Length);
            return;
        }

        _transcript.LogServer(buffer, offset, count);
    }

    /// <summary>"334 " (SMTP) or "+ " (POP3) when the line is a SASL challenge with a payload; else null.</summary>
    private static string? ChallengePrefix(byte[] buffer, int offset, int count)
    {
        var line = Encoding.ASCII.GetString(buffer, offset, Math.Min(count, 8));
        var prefix = line.StartsWith("334 ", StringComparison.Ordinal) ? "334 " : line.StartsWith("+ ", StringComparison.Ordinal) ? "+ " : null;
        return prefix != null && line.Length > prefix.Length && line[prefix.Length] != '\r' ? prefix : null;
    }

    public void Dispose()
    {
        NoteUnfinishedData();
        _transcript?.Dispose();
    }

    /// <summary>Data that went out without its terminator (the connection broke, or the command
    /// ended) still gets its summary line.</summary>
    private void NoteUnfinishedData()
    {
        if (_dataBytes > 0)
        {
            WriteDataSummary(", incomplete");
        }
    }

    /// <summary><paramref name="state"/>: "" for data ended by the "." line, null for a chunk
    /// complete by its length, else what went wrong (", incomplete").</summary>
    private void WriteDataSummary(string? state)
    {
        var note = Encoding.ASCII.GetBytes(state == null
            ? $"[{_dataBytes} bytes of message data]\r\n"
            : state.Length == 0
                ? $"[{_dataBytes} bytes of message data]\r\n.\r\n"
                : $"[{_dataBytes} bytes of message data{state}]\r\n");
        _transcript?.LogClient(note, 0, note.Length);
        _dataBytes = 0;
    }

    private void NoteCommands(byte[] buffer, int offset, int count)
    {
        var text = Encoding.ASCII.GetString(buffer, offset, Math.Min(count, 4096));
        foreach (var line in text.Split('\n'))
        {
            var verb = line.Trim();
            var space = verb.IndexOf(' ');
            if (space > 0)
            {
                verb = verb.Substring(0, space);
            }

            verb = verb.ToUpperInvariant();
            if (Array.IndexOf(KnownCommands, verb) >= 0)
            {
                LastCommand = verb;
                _tokenExchange = verb == "AUTH" && (line.IndexOf("GSSAPI", StringComparison.OrdinalIgnoreCase) >= 0 || line.IndexOf("NTLM", StringComparison.OrdinalIgnoreCase) >= 0);
            }
        }
    }
}
