using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;

namespace MailProtocols.Engine.Smtp;

/// <summary>An SMTP reply: its code and its lines' text (without the code), joined.</summary>
internal readonly struct SmtpReply
{
    public SmtpReply(int code, string text)
    {
        Code = code;
        Text = text;
    }

    public int Code { get; }

    /// <summary>The text of every line, without codes, one line per line.</summary>
    public string Text { get; }

    public bool IsPositive => Code >= 200 && Code < 400;

    public bool IsTransient => Code >= 400 && Code < 500;

    public override string ToString() => $"{Code} {Text}";
}

/// <summary>The server broke the SMTP protocol (a reply that is not one, an over-long line).</summary>
internal sealed class SmtpProtocolViolation : Exception
{
    public SmtpProtocolViolation(string message) : base(message)
    {
    }
}

/// <summary>The SMTP side of <see cref="MailWire"/>: replies of one or more lines (RFC 5321 4.2).</summary>
internal sealed class SmtpWire : MailWire
{
    /// <summary>Reply lines longer than this are a protocol error (RFC 5321 allows 512 octets).</summary>
    public const int MaxReplyLine = 8192;

    public SmtpWire(ConnectionSettings settings, ProtocolTap tap, CertificateValidator validator)
        : base(settings, tap, validator)
    {
    }

    /// <summary>Reads one reply, after writing any commands not yet written.</summary>
    public SmtpReply ReadReply(CancellationToken token)
    {
        Flush();
        return ReadQueuedReply(token);
    }

    /// <summary>Reads one reply without writing what is queued (its command went out already).</summary>
    public SmtpReply ReadQueuedReply(CancellationToken token)
    {
        StringBuilder? text = null; // only a reply of several lines needs one
        while (true)
        {
            var line = ReadLine(MaxReplyLine, token);
            if (line.Length < 3 || !char.IsDigit(line[0]) || !char.IsDigit(line[1]) || !char.IsDigit(line[2]) ||
                (line.Length > 3 && line[3] != ' ' && line[3] != '-'))
            {
                throw new SmtpProtocolViolation($"The server sent a line that is not an SMTP reply: {Shorten(line)}");
            }

            var code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
            var last = line.Length <= 3 || line[3] == ' ';
            if (last && text == null)
            {
                return new SmtpReply(code, line.Length > 4 ? line.Substring(4) : "");
            }

            text ??= new StringBuilder();
            if (text.Length > 0)
            {
                text.Append('\n');
            }

            text.Append(line, Math.Min(4, line.Length), Math.Max(0, line.Length - 4));
            if (last)
            {
                return new SmtpReply(code, text.ToString());
            }
        }
    }

    /// <summary>Queues a message's data: after DATA, dot-stuffed and ended by the "." line; after
    /// BDAT, as it is (exactly <see cref="MessageData.Length"/> bytes). The transcript gets it
    /// recorded or summarized, as the tap was told.</summary>
    public void SendData(MessageData data, bool dotStuffed, CancellationToken token)
    {
        var writer = new DataWriter(this, dotStuffed);
        data.WriteTo(writer, token);
        if (dotStuffed)
        {
            writer.Terminate();
        }

        _tap.EndData(dotStuffed);
    }

    protected override Exception Violation(string message) => new SmtpProtocolViolation(message);

    private void SendLogged(byte[] buffer, int offset, int count)
    {
        _tap.LogData(buffer, offset, count);
        SendRaw(buffer, offset, count);
    }

    /// <summary>The stream MimeKit writes the message into: on to the wire, with a dot added
    /// before each line that starts with one when <c>dotStuffed</c> (RFC 5321 4.5.2).</summary>
    internal sealed class DataWriter : WriteOnlyStream
    {
        private static readonly byte[] Dot = { (byte)'.' };
        private static readonly byte[] End = { (byte)'\r', (byte)'\n', (byte)'.', (byte)'\r', (byte)'\n' };

        private readonly SmtpWire _wire;
        private readonly bool _dotStuffed;
        private bool _atLineStart = true;

        public DataWriter(SmtpWire wire, bool dotStuffed)
        {
            _wire = wire;
            _dotStuffed = dotStuffed;
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (count == 0)
            {
                return;
            }

            if (!_dotStuffed)
            {
                _wire.SendLogged(buffer, offset, count);
                return;
            }

            // Whole stretches go on at once; only a line that starts with a dot splits one.
            var end = offset + count;
            var start = offset;
            if (_atLineStart && buffer[start] == (byte)'.')
            {
                _wire.SendLogged(Dot, 0, 1);
            }

            for (var i = start; ;)
            {
                var lf = Array.IndexOf(buffer, (byte)'\n', i, end - i);
                if (lf < 0 || lf + 1 == end)
                {
                    _wire.SendLogged(buffer, start, end - start);
                    _atLineStart = lf >= 0;
                    return;
                }

                if (buffer[lf + 1] == (byte)'.')
                {
                    _wire.SendLogged(buffer, start, lf + 1 - start);
                    _wire.SendLogged(Dot, 0, 1);
                    start = lf + 1;
                }

                i = lf + 1;
            }
        }

        /// <summary>The end of the data: a line break if the message lacks its last one, then ".".</summary>
        public void Terminate()
        {
            if (_atLineStart)
            {
                _wire.SendLogged(End, 2, 3);
            }
            else
            {
                _wire.SendLogged(End, 0, End.Length);
            }
        }

        public override void Flush()
        {
        }
    }

    private static string Shorten(string line) => line.Length <= 80 ? line : line.Substring(0, 80) + "...";
}

/// <summary>What the server offers in its EHLO reply, as far as sending needs it.</summary>
internal sealed class SmtpExtensions
{
    public static readonly SmtpExtensions None = new(new List<string>());

    private readonly HashSet<string> _keywords = new(StringComparer.OrdinalIgnoreCase);

    public SmtpExtensions(IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            var parts = line.Split(new[] { ' ', '=' }, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0)
            {
                continue;
            }

            _keywords.Add(parts[0]);
            if (parts[0].Equals("SIZE", StringComparison.OrdinalIgnoreCase) && parts.Length > 1 && long.TryParse(parts[1], out var size))
            {
                MaxSize = size;
            }
            else if (parts[0].Equals("AUTH", StringComparison.OrdinalIgnoreCase))
            {
                for (var i = 1; i < parts.Length; i++)
                {
                    if (!AuthMechanisms.Contains(parts[i].ToUpperInvariant()))
                    {
                        AuthMechanisms.Add(parts[i].ToUpperInvariant());
                    }
                }
            }
        }
    }

    public bool Pipelining => Has("PIPELINING");
    public bool Chunking => Has("CHUNKING");
    public bool StartTls => Has("STARTTLS");
    public bool EightBitMime => Has("8BITMIME");
    public bool SmtpUtf8 => Has("SMTPUTF8");
    public bool Dsn => Has("DSN");
    public bool Size => Has("SIZE");

    /// <summary>The SIZE the server announced; 0: none, or no limit.</summary>
    public long MaxSize { get; }

    public List<string> AuthMechanisms { get; } = new();

    public bool Has(string keyword) => _keywords.Contains(keyword);

    public override string ToString() => _keywords.Count == 0 ? "(none)" : string.Join(" ", _keywords);
}
