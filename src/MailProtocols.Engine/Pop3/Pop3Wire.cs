using System;
using System.Diagnostics;
using System.IO;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace MailProtocols.Engine.Pop3;

/// <summary>A POP3 status line: "+OK ...", "-ERR ..." or a SASL continuation "+ ...".</summary>
internal readonly struct Pop3Reply
{
    public Pop3Reply(string line) => Line = line;

    public string Line { get; }
    public bool IsOk => Line.StartsWith("+OK", StringComparison.Ordinal);
    public bool IsContinuation => Line.StartsWith("+ ", StringComparison.Ordinal) || Line == "+";

    /// <summary>The text after the status indicator.</summary>
    public string Text
    {
        get
        {
            var space = Line.IndexOf(' ');
            return space < 0 ? "" : Line.Substring(space + 1);
        }
    }

    /// <summary>The RFC 2449 response code in brackets, e.g. "IN-USE" or "SYS/TEMP", or null.</summary>
    public string? ResponseCode
    {
        get
        {
            var text = Text;
            if (!text.StartsWith("[", StringComparison.Ordinal))
            {
                return null;
            }

            var end = text.IndexOf(']');
            return end > 1 ? text.Substring(1, end - 1).ToUpperInvariant() : null;
        }
    }

    public override string ToString() => Line;
}

/// <summary>
/// The POP3 side of <see cref="MailWire"/>: status lines, and multi-line data read with bounded
/// buffers and dot-unstuffed.
/// </summary>
internal sealed class Pop3Wire : MailWire
{
    /// <summary>Status lines longer than this are a protocol error (RFC 2449 allows 512 octets).</summary>
    public const int MaxStatusLine = 8192;

    public Pop3Wire(ConnectionSettings settings, ProtocolTap tap)
        : base(settings, tap, new CertificateValidator(settings.SkipCertificateCheck, opportunistic: false))
    {
    }

    public Pop3Wire(ConnectionSettings settings, ProtocolTap tap, CertificateValidator validator)
        : base(settings, tap, validator)
    {
    }

    /// <summary>Opens the TCP connection (and TLS at once when <paramref name="implicitTls"/>).</summary>
    public void Connect(bool implicitTls, CancellationToken token) => Connect("pop", implicitTls, token);

    /// <summary>Reads a status line (without CRLF), after writing any commands not yet written.</summary>
    public Pop3Reply ReadReply(CancellationToken token)
    {
        Flush();
        return new Pop3Reply(ReadLine(MaxStatusLine, token));
    }

    /// <summary>Reads the lines of a multi-line response (after its +OK), dot-unstuffed, until the
    /// final "." line. Each line is bounded by <paramref name="maxLine"/>.</summary>
    public System.Collections.Generic.List<string> ReadLines(int maxLine, CancellationToken token)
    {
        var lines = new System.Collections.Generic.List<string>();
        while (true)
        {
            var line = ReadLine(maxLine, token);
            if (line == ".")
            {
                return lines;
            }

            // RFC 1939: a line that starts with the termination octet has it removed, whatever follows.
            lines.Add(line.StartsWith(".", StringComparison.Ordinal) ? line.Substring(1) : line);
        }
    }

    /// <summary>Copies a multi-line response (after its +OK) to <paramref name="destination"/>,
    /// undoing dot-stuffing, without holding it in memory. Returns the bytes written.</summary>
    public long CopyData(Stream destination, CancellationToken token)
    {
        long written = 0;
        var atLineStart = true;
        _line.Restart();
        while (true)
        {
            if (_start == _end)
            {
                Fill(token);
            }

            if (atLineStart && _buffer[_start] == (byte)'.')
            {
                // A line that starts with a dot: the end marker ".CRLF", or a stuffed dot to drop.
                if (!EnsureBuffered(3, token))
                {
                    throw new IOException("The server closed the connection in the middle of a message.");
                }

                if (_buffer[_start + 1] == (byte)'\r' && _buffer[_start + 2] == (byte)'\n')
                {
                    _start += 3;
                    LogServerProgress(written);
                    return written;
                }

                _start++;
                atLineStart = false;
                continue;
            }

            // Write everything up to the next line that starts with a dot (or to the end of what
            // is buffered) in one piece: one write per buffer, not one per line.
            var dotLine = IndexOfDotLine();
            int stop;
            if (dotLine >= 0)
            {
                stop = dotLine + 1;
                atLineStart = true;
            }
            else
            {
                stop = _end;
                atLineStart = _buffer[_end - 1] == (byte)'\n';
            }

            destination.Write(_buffer, _start, stop - _start);
            if (atLineStart || Array.IndexOf(_buffer, (byte)'\n', _start, stop - _start) >= 0)
            {
                _line.Restart();
            }

            written += stop - _start;
            _start = stop;
        }
    }

    /// <summary>The index of a LF in the buffer that a '.' follows, or -1.</summary>
    private int IndexOfDotLine()
    {
        for (var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start); lf >= 0 && lf + 1 < _end; lf = Array.IndexOf(_buffer, (byte)'\n', lf + 1, _end - lf - 1))
        {
            if (_buffer[lf + 1] == (byte)'.')
            {
                return lf;
            }
        }

        return -1;
    }

    private void LogServerProgress(long bytes)
    {
        // Message content stays out of the transcript: a line saying how much came is enough.
        var note = Encoding.ASCII.GetBytes($"[{bytes} bytes of message data]\r\n.\r\n");
        _tap.LogServer(note, 0, note.Length);
    }

    protected override Exception Violation(string message) => new Pop3ProtocolViolation(message);
}

/// <summary>The server broke the protocol (garbage, an over-long line).</summary>
internal sealed class Pop3ProtocolViolation : Exception
{
    public Pop3ProtocolViolation(string message) : base(message)
    {
    }
}
