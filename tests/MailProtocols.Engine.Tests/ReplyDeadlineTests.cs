using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using MailProtocols.Engine.Smtp;
using Xunit;

namespace MailProtocols.Engine.Tests;

public class ReplyDeadlineTests
{
    /// <summary>Like TLS, returns nothing until a whole record (here: a fixed number of bytes)
    /// has come, reading the stream below as often as that takes.</summary>
    private sealed class Records : Stream
    {
        private readonly Stream _inner;
        private readonly int _record;

        public Records(Stream inner, int record)
        {
            _inner = inner;
            _record = record;
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var got = 0;
            while (got < Math.Min(_record, count))
            {
                var n = _inner.Read(buffer, offset + got, Math.Min(_record, count) - got);
                if (n == 0)
                {
                    break;
                }

                got += n;
            }

            return got;
        }

        public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);
        public override void Flush() => _inner.Flush();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    [Fact]
    public void AReplyLineTrickledInsideOneTlsRecordEndsWithinTheTimeout()
    {
        // 30 bytes, one every 100 ms: each inner read gets a byte well within the timeout, but
        // the record (and so the line) takes 3 s.
        var reply = Encoding.ASCII.GetBytes("250 a reply that trickles in\r\n");
        using var server = new LoopbackServer((peer, stop) =>
        {
            foreach (var b in reply)
            {
                if (stop.WaitHandle.WaitOne(100))
                {
                    return;
                }

                peer.Send(new[] { b });
            }

            stop.WaitHandle.WaitOne();
        });
        var settings = new ConnectionSettings { Host = "test", Port = 25, Timeout = TimeSpan.FromMilliseconds(600) };
        using var deadline = new DeadlineStream(server.Connect(), settings.Timeout, CancellationToken.None);
        using var wire = new SmtpWire(settings, new ProtocolTap(null), Connector.Validator(settings));
        wire.UseStream(new Records(deadline, reply.Length), deadline);
        var watch = Stopwatch.StartNew();

        var ex = Assert.ThrowsAny<Exception>(() => wire.ReadQueuedReply(CancellationToken.None));

        Assert.True(ConnectErrors.IsTimeout(ex), ex.ToString());
        Assert.InRange(watch.Elapsed.TotalSeconds, 0.4, 1.8);
    }
}
