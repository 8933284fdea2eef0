// Raw pipelined SMTP and POP3 clients: what the protocol and the server allow, with no library
// cost. Loaded by bench/SmtpThroughput.ps1, bench/Pop3Throughput.ps1 and bench/RealServers.ps1
// with Add-Type -Path; not a benchmark itself.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

public enum RawSmtpMode
{
    // Per message one write (the previous message's data, this one's MAIL, RCPT and DATA) and a
    // wait for the 354: the fewest waits RFC 2920 allows without CHUNKING.
    LegalData,
    // Every command and every message with DATA written without waiting while a second thread
    // reads the replies.
    DataAllAtOnce,
    // MAIL, RCPT and BDAT n LAST for every message written without waiting while a second thread
    // reads the replies.
    BdatAllAtOnce,
}

public static class RawClients
{
    sealed class Reader
    {
        readonly Stream _stream;
        readonly byte[] _buffer = new byte[65536];
        int _pos, _len;

        public Reader(Stream stream) { _stream = stream; }

        int Next()
        {
            if (_pos == _len)
            {
                _len = _stream.Read(_buffer, 0, _buffer.Length);
                _pos = 0;
                if (_len <= 0) throw new IOException("connection closed");
            }
            return _buffer[_pos++];
        }

        // One line without CRLF, as ASCII (replies are short; message lines are only counted).
        public string Line()
        {
            var text = new StringBuilder();
            int b;
            while ((b = Next()) != '\n') if (b != '\r') text.Append((char)b);
            return text.ToString();
        }

        public string SmtpReply()
        {
            string line;
            do { line = Line(); } while (line.Length > 3 && line[3] == '-');
            if (line.Length == 0 || (line[0] != '2' && line[0] != '3')) throw new IOException("unexpected reply: " + line);
            return line;
        }

        public void Pop3Status()
        {
            string line = Line();
            if (!line.StartsWith("+")) throw new IOException("unexpected reply: " + line);
        }

        // The data of a multi-line response (after its status line), dot-unstuffed, into
        // destination.
        public void Pop3Data(MemoryStream destination)
        {
            while (true)
            {
                if (_pos == _len) { _len = _stream.Read(_buffer, 0, _buffer.Length); _pos = 0; if (_len <= 0) throw new IOException("connection closed"); }
                if (_buffer[_pos] == '.')
                {
                    if (Next() == '.' && Peek() == '\r') { Next(); if (Next() != '\n') throw new IOException("bad end line"); return; }
                }
                // One line (or the buffered part of it) at a time.
                while (true)
                {
                    int lf = Array.IndexOf(_buffer, (byte)'\n', _pos, _len - _pos);
                    int stop = lf < 0 ? _len : lf + 1;
                    destination.Write(_buffer, _pos, stop - _pos);
                    _pos = stop;
                    if (lf >= 0) break;
                    _len = _stream.Read(_buffer, 0, _buffer.Length); _pos = 0;
                    if (_len <= 0) throw new IOException("connection closed");
                }
            }
        }

        int Peek()
        {
            if (_pos == _len)
            {
                _len = _stream.Read(_buffer, 0, _buffer.Length);
                _pos = 0;
                if (_len <= 0) throw new IOException("connection closed");
            }
            return _buffer[_pos];
        }

        public void Pop3MultiLine()
        {
            Pop3Status();
            int first = 0, length;
            do
            {
                length = 0;
                int b;
                while ((b = Next()) != '\n') { if (length == 0) first = b; length++; }
            } while (!(length == 2 && first == '.'));
        }
    }

    static void Write(Stream stream, string text)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(text);
        stream.Write(bytes, 0, bytes.Length);
        stream.Flush();
    }

    static string Envelope(int n) { return "MAIL FROM:<bench@example.com>\r\nRCPT TO:<user" + n + "@example.com>\r\n"; }

    // Connect, STARTTLS, EHLO, AUTH PLAIN when a user is given, the messages, QUIT: seconds from
    // connect to QUIT's reply. Message n is messageFormat with {0} = n and {1} = count (CRLF line
    // ends, no dot-stuffing needed); it goes from bench@example.com to user{n}@example.com.
    public static double Smtp(string host, int port, string user, string password, int count, string messageFormat, RawSmtpMode mode)
    {
        Func<int, string> message = n => string.Format(CultureInfo.InvariantCulture, messageFormat, n, count);
        var watch = Stopwatch.StartNew();
        using var client = new TcpClient(host, port) { NoDelay = true };
        var plain = client.GetStream();
        var plainReader = new Reader(plain);
        plainReader.SmtpReply();
        Write(plain, "EHLO bench\r\n"); plainReader.SmtpReply();
        Write(plain, "STARTTLS\r\n"); plainReader.SmtpReply();
        using var tls = new SslStream(plain, false, (a, b, c, d) => true);
        tls.AuthenticateAsClient("localhost");
        var reader = new Reader(tls);
        Write(tls, "EHLO bench\r\n"); reader.SmtpReply();
        if (!string.IsNullOrEmpty(user))
        {
            Write(tls, "AUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + user + "\0" + password)) + "\r\n");
            reader.SmtpReply();
        }

        if (mode == RawSmtpMode.LegalData)
        {
            Write(tls, Envelope(1) + "DATA\r\n");
            for (int n = 1; n <= count; n++)
            {
                // Replies in order: the previous message's final reply, MAIL, RCPT, then 354.
                while (!reader.SmtpReply().StartsWith("354")) { }
                Write(tls, message(n) + ".\r\n" + (n < count ? Envelope(n + 1) + "DATA\r\n" : ""));
            }
            reader.SmtpReply();
        }
        else
        {
            bool bdat = mode == RawSmtpMode.BdatAllAtOnce;
            var writer = new Thread(() =>
            {
                var buffered = new BufferedStream(tls, 65536);
                for (int n = 1; n <= count; n++)
                {
                    byte[] body = Encoding.ASCII.GetBytes(bdat ? message(n) : message(n) + ".\r\n");
                    byte[] head = Encoding.ASCII.GetBytes(Envelope(n) + (bdat ? "BDAT " + body.Length + " LAST\r\n" : "DATA\r\n"));
                    buffered.Write(head, 0, head.Length);
                    buffered.Write(body, 0, body.Length);
                }
                buffered.Flush();
            });
            writer.Start();
            // MAIL, RCPT, BDAT: three replies a message; DATA adds the 354.
            for (int i = 0; i < count * (bdat ? 3 : 4); i++) reader.SmtpReply();
            writer.Join();
        }
        Write(tls, "QUIT\r\n"); reader.SmtpReply();
        return watch.Elapsed.TotalSeconds;
    }

    // Connect, STLS, USER/PASS: the client, its TLS stream and a reader on it.
    static (TcpClient, SslStream, Reader) Pop3Login(string host, int port, string user, string password)
    {
        var client = new TcpClient(host, port) { NoDelay = true };
        var plain = client.GetStream();
        var plainReader = new Reader(plain);
        plainReader.Pop3Status();
        Write(plain, "STLS\r\n"); plainReader.Pop3Status();
        var tls = new SslStream(plain, false, (a, b, c, d) => true);
        tls.AuthenticateAsClient("localhost");
        var reader = new Reader(tls);
        Write(tls, "USER " + user + "\r\n"); reader.Pop3Status();
        Write(tls, "PASS " + password + "\r\n"); reader.Pop3Status();
        return (client, tls, reader);
    }

    // Every command for messages 1..count written at once by a second thread.
    static Thread SendAll(Stream tls, int count, Func<int, string> command)
    {
        var writer = new Thread(() =>
        {
            var buffered = new BufferedStream(tls, 65536);
            for (int n = 1; n <= count; n++)
            {
                byte[] bytes = Encoding.ASCII.GetBytes(command(n));
                buffered.Write(bytes, 0, bytes.Length);
            }
            buffered.Flush();
        });
        writer.Start();
        return writer;
    }

    // Every TOP n 0 (or RETR n) written at once while reading, QUIT: seconds from connect to
    // QUIT's reply.
    public static double Pop3(string host, int port, string user, string password, int count, bool top)
    {
        var watch = Stopwatch.StartNew();
        var (client, tls, reader) = Pop3Login(host, port, user, password);
        using (client)
        using (tls)
        {
            var writer = SendAll(tls, count, n => top ? "TOP " + n + " 0\r\n" : "RETR " + n + "\r\n");
            for (int n = 1; n <= count; n++) reader.Pop3MultiLine();
            writer.Join();
            Write(tls, "QUIT\r\n"); reader.Pop3Status();
        }
        return watch.Elapsed.TotalSeconds;
    }

    [DllImport("libc", SetLastError = true)] static extern int open(string path, int flags);
    [DllImport("libc", SetLastError = true)] static extern int fsync(int fd);
    [DllImport("libc", SetLastError = true)] static extern int syncfs(int fd);
    [DllImport("libc")] static extern int close(int fd);

    static void Check(int result, string call)
    {
        if (result != 0) throw new IOException(call + " failed, errno " + Marshal.GetLastWin32Error());
    }

    // Every RETR written at once while reading; each message, dot-unstuffed, written to
    // <folder>/<n>.eml.partial. Durable: every batchSize messages (and at the end), the batch is
    // made durable (one syncfs, or with parallelFsync one fsync per file from 8 threads), each
    // file renamed to <n>.eml, and the folder fsynced: what the -Destination guarantees need and
    // nothing more. Not durable: written straight to <n>.eml, no fsync (as the poplib loop).
    // Seconds from connect to QUIT's reply. Linux only.
    public static double Pop3Files(string host, int port, string user, string password, int count, string folder, bool durable, bool parallelFsync, int batchSize)
    {
        var watch = Stopwatch.StartNew();
        var (client, tls, reader) = Pop3Login(host, port, user, password);
        int dir = open(folder, 0x80000); // O_RDONLY | O_CLOEXEC
        if (dir < 0) throw new IOException("open " + folder + " failed");
        var message = new MemoryStream();
        var batch = new List<(string Path, FileStream File)>();
        void Complete()
        {
            if (parallelFsync)
                Parallel.ForEach(batch, new ParallelOptions { MaxDegreeOfParallelism = 8 }, f => f.File.Flush(flushToDisk: true));
            else
                Check(syncfs(dir), "syncfs");
            foreach (var (path, file) in batch)
            {
                file.Dispose();
                File.Move(path + ".partial", path);
            }
            Check(fsync(dir), "fsync");
            batch.Clear();
        }
        try
        {
            using (client)
            using (tls)
            {
                var writer = SendAll(tls, count, n => "RETR " + n + "\r\n");
                for (int n = 1; n <= count; n++)
                {
                    reader.Pop3Status();
                    message.SetLength(0);
                    reader.Pop3Data(message);
                    string path = Path.Combine(folder, n + ".eml");
                    var file = new FileStream(durable ? path + ".partial" : path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1);
                    file.Write(message.GetBuffer(), 0, (int)message.Length);
                    if (!durable) { file.Dispose(); continue; }
                    // syncfs needs no open file; the fsyncs do.
                    if (!parallelFsync) file.Dispose();
                    batch.Add((path, file));
                    if (batch.Count == batchSize) Complete();
                }
                if (batch.Count > 0) Complete();
                writer.Join();
                Write(tls, "QUIT\r\n"); reader.Pop3Status();
            }
        }
        finally
        {
            close(dir);
        }
        return watch.Elapsed.TotalSeconds;
    }
}
