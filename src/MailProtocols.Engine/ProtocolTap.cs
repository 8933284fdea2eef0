using System;
using System.Diagnostics;
using System.Text;
using System.Threading;
using MailKit;

namespace MailProtocols.Engine;

/// <summary>
/// Sits between MailKit and the optional transcript file. It writes the transcript through
/// MailKit's own <see cref="ProtocolLogger"/> (which redacts AUTH secrets) and watches the
/// client's bytes for two facts the engine needs: the last command sent, and whether the end
/// of message data (CRLF.CRLF) has gone out, which decides whether a lost connection may be
/// retried without risking a duplicate. Message data is summarized in the transcript as one line
/// giving its size, unless the caller asks for the data itself.
/// </summary>
internal sealed class ProtocolTap : IProtocolLogger
{
    private static readonly string[] KnownCommands =
    {
        "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT",
        "CAPA", "STLS", "USER", "PASS", "APOP", "STAT", "LIST", "UIDL", "TOP", "RETR", "DELE",
    };

    private readonly ProtocolLogger? _transcript;
    private readonly bool _recordMessageData;
    private long _dataBytes; // message data held back from the transcript so far
    private IAuthenticationSecretDetector? _detector;
    private bool _inData;
    private bool _awaitingDataReply; // DATA went out; its reply decides whether data follows
    private int _matched; // how much of "\r\n.\r\n" the data stream currently ends with
    private long _partialSince; // Stopwatch timestamp since the server's current line began arriving; 0: none

    public ProtocolTap(string? transcriptPath, bool recordMessageData = false)
    {
        _recordMessageData = recordMessageData;
        if (transcriptPath != null && transcriptPath.Length > 0)
        {
            _transcript = new ProtocolLogger(transcriptPath, append: true) { LogTimestamps = true, RedactSecrets = true };
        }
    }

    /// <summary>Set by a client that logs message data itself (<see cref="LogData"/>): a DATA
    /// command then does not turn what follows into data, since pipelined replies arrive in
    /// between.</summary>
    public bool ExplicitData { get; init; }

    /// <summary>The verb of the last command line the client sent (e.g. "RCPT"), or null.</summary>
    public string? LastCommand { get; private set; }

    /// <summary>True once the final "CRLF.CRLF" of the current message was handed to the socket.</summary>
    public bool DataTerminatorSent { get; private set; }

    public IAuthenticationSecretDetector? AuthenticationSecretDetector
    {
        get => _detector;
        set
        {
            _detector = value;
            if (_transcript != null && value != null)
            {
                _transcript.AuthenticationSecretDetector = value;
            }
        }
    }

    /// <summary>Call before each message transaction.</summary>
    public void BeginTransaction()
    {
        NoteUnfinishedData();
        DataTerminatorSent = false;
        _inData = false;
        _matched = 0;
    }

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
        _inData = false;
        Interlocked.Exchange(ref _partialSince, 0);
        _transcript?.LogConnect(uri);
    }

    public void LogClient(byte[] buffer, int offset, int count)
    {
        if (!_inData)
        {
            NoteCommands(buffer, offset, count);
            _transcript?.LogClient(buffer, offset, count);
            return;
        }

        var data = WatchForTerminator(buffer, offset, count);
        if (_recordMessageData)
        {
            _transcript?.LogClient(buffer, offset, data);
        }
        else
        {
            // A 2 MB attachment would otherwise make a 3 MB transcript: one line says how much went.
            _dataBytes += data;
            if (DataTerminatorSent)
            {
                WriteDataSummary("");
            }
        }

        if (data < count)
        {
            LogClient(buffer, offset + data, count - data);
        }
    }

    /// <summary>Logs message data the client sends (with <see cref="ExplicitData"/>): recorded,
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
        if (_awaitingDataReply && count > 0)
        {
            // DATA refused: no message data follows, and what the client sends next is a command.
            _awaitingDataReply = false;
            _inData = buffer[offset] == (byte)'3';
        }

        if (count > 0)
        {
            var endsLine = buffer[offset + count - 1] == (byte)'\n';
            if (endsLine)
            {
                Interlocked.Exchange(ref _partialSince, 0);
            }
            else if (Array.LastIndexOf(buffer, (byte)'\n', offset + count - 1, count) >= 0 || Interlocked.Read(ref _partialSince) == 0)
            {
                Interlocked.Exchange(ref _partialSince, Stopwatch.GetTimestamp());
            }
        }

        _transcript?.LogServer(buffer, offset, count);
    }

    /// <summary>How long the server has been sending its current, unfinished line (zero when it
    /// is not in the middle of one): a server that trickles a reply is caught by this.</summary>
    public TimeSpan PartialLineAge
    {
        get
        {
            var since = Interlocked.Read(ref _partialSince);
            return since == 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((Stopwatch.GetTimestamp() - since) / (double)Stopwatch.Frequency);
        }
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
            }
        }

        if (LastCommand == "DATA" && !ExplicitData)
        {
            // Everything the client writes from now on is message content until CRLF.CRLF,
            // unless the server refuses DATA.
            _inData = true;
            _awaitingDataReply = true;
            _matched = 2; // the DATA line itself ended with CRLF, so an empty message is "." CRLF
        }
    }

    /// <summary>Follows the message data; returns how many of the bytes belong to it, up to and
    /// including the terminator when it is among them.</summary>
    private int WatchForTerminator(byte[] buffer, int offset, int count)
    {
        const string terminator = "\r\n.\r\n";
        for (var i = offset; i < offset + count; i++)
        {
            var b = buffer[i];
            if (b == terminator[_matched])
            {
                _matched++;
            }
            else
            {
                _matched = b == '\r' ? 1 : 0;
            }

            if (_matched == terminator.Length)
            {
                DataTerminatorSent = true;
                _inData = false;
                _matched = 0;
                return i - offset + 1;
            }
        }

        return count;
    }
}
