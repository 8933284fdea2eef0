using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace MailProtocols.Engine.Tests;

/// <summary>
/// A plain SMTP server on loopback for the sender's tests: PIPELINING, any number of
/// connections one after another, every command accepted unless the test's reply function says
/// otherwise. That function sees each command line (and "." for the end of a message's data)
/// with the connection's number (1 for the first) on the server's thread, in the order the
/// server reads them; it returns the reply to send instead of the normal one, <see cref="Close"/>
/// to close the connection without a reply, or null.
/// </summary>
internal sealed class ScriptedSmtpServer : IDisposable
{
    public const string Close = "(close)";

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<int, string, string?> _reply;
    private readonly List<Task> _sessions = new();
    private readonly List<Socket> _sockets = new();
    private readonly Task _accept;
    private int _connections;

    public ScriptedSmtpServer(Func<int, string, string?>? reply = null)
    {
        _reply = reply ?? ((_, _) => null);
        _listener.Start();
        _accept = Task.Factory.StartNew(AcceptAll, TaskCreationOptions.LongRunning);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Called on the server's thread once the reply to a line (as the reply function
    /// saw it) has been written.</summary>
    public event Action<string>? Replied;

    /// <summary>Every command the server read, as "connection: line", in order.</summary>
    public List<string> Log { get; } = new();

    public ConnectionSettings Settings => new() { Host = "127.0.0.1", Port = Port, TlsMode = TlsMode.None, Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose()
    {
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
        }

        try
        {
            _accept.Wait(TimeSpan.FromSeconds(5));
            Task.WaitAll(_sessions.ToArray(), TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // A session ends by an error when the client or Dispose closed its socket first.
        }
    }

    private void AcceptAll()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = _listener.AcceptSocket();
            }
            catch (Exception ex) when (ex is SocketException || ex is ObjectDisposedException)
            {
                return;
            }

            var number = Interlocked.Increment(ref _connections);
            lock (_sockets)
            {
                _sockets.Add(socket);
                _sessions.Add(Task.Factory.StartNew(() => Serve(socket, number), TaskCreationOptions.LongRunning));
            }
        }
    }

    private void Serve(Socket socket, int number)
    {
        using var stream = new NetworkStream(socket, ownsSocket: true);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
        writer.WriteLine("220 scripted ESMTP");
        while (reader.ReadLine() is { } line)
        {
            var verb = line.Split(' ')[0].ToUpperInvariant();
            if (verb == "DATA")
            {
                var go = Answer(number, line, "354 go ahead");
                if (go == null)
                {
                    return;
                }

                writer.WriteLine(go);
                if (!go.StartsWith("354", StringComparison.Ordinal))
                {
                    continue;
                }

                while (reader.ReadLine() is { } data && data != ".")
                {
                }

                line = ".";
            }

            var normal = verb switch
            {
                "EHLO" => "250-scripted\r\n250 PIPELINING",
                "QUIT" => "221 bye",
                "DATA" => "250 2.0.0 queued",
                _ => "250 2.0.0 ok",
            };
            var reply = Answer(number, line, normal);
            if (reply == null)
            {
                return;
            }

            writer.WriteLine(reply);
            Replied?.Invoke(line);
            if (verb == "QUIT")
            {
                return;
            }
        }
    }

    /// <summary>The reply to send, after logging the line; null to close the connection.</summary>
    private string? Answer(int number, string line, string normal)
    {
        lock (Log)
        {
            Log.Add($"{number}: {line}");
        }

        var reply = _reply(number, line);
        return reply == Close ? null : reply ?? normal;
    }
}
