using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading;

namespace MockMail;

/// <summary>
/// A loopback HTTPS endpoint that answers every request with a redirect (307 by default: the
/// client must send the same POST again) to the same path on another host, e.g. a mock token
/// endpoint, and records what it was asked: a token client that follows it would hand its
/// assertion or secret to wherever the redirect points.
/// </summary>
public sealed class RedirectingHttps : IDisposable
{
    private readonly X509Certificate2 _certificate;
    private readonly Uri _target;
    private readonly List<string> _requests = new();
    private TcpListener? _listener;
    private Thread? _acceptThread;

    public RedirectingHttps(X509Certificate2 certificate, string target)
    {
        _certificate = certificate;
        _target = new Uri(target);
    }

    /// <summary>The redirect's status code: 307 or 308 keep the method and body, 301 to 303 need not.</summary>
    public int Status { get; set; } = 307;

    /// <summary>The listening port; 0 before Start.</summary>
    public int Port { get; private set; }

    /// <summary>"https://localhost:port/": the base to give a client instead of the target's.</summary>
    public string BaseUri => $"https://localhost:{Port}/";

    /// <summary>Each request answered, as "METHOD target".</summary>
    public string[] Requests
    {
        get
        {
            lock (_requests)
            {
                return _requests.ToArray();
            }
        }
    }

    public void Start()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(10);
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _acceptThread = new Thread(() => Accept(listener)) { IsBackground = true, Name = "RedirectingHttps accept" };
        _acceptThread.Start();
    }

    public void Dispose()
    {
        _listener?.Stop();
        _listener = null;
        _acceptThread?.Join(5000);
    }

    private void Accept(TcpListener listener)
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = listener.AcceptTcpClient();
            }
            catch (Exception ex) when (ex is SocketException || ex is ObjectDisposedException || ex is InvalidOperationException)
            {
                return;
            }

            ThreadPool.QueueUserWorkItem(_ => Serve(client));
        }
    }

    private void Serve(TcpClient client)
    {
        using (client)
        {
            try
            {
                client.ReceiveTimeout = 10000;
                using var tls = new SslStream(client.GetStream());
                tls.AuthenticateAsServer(_certificate, false, false);
                var head = ReadHead(tls);
                var request = head.Split("\r\n")[0].Split(' ');
                if (request.Length != 3)
                {
                    return;
                }

                lock (_requests)
                {
                    _requests.Add(request[0] + " " + request[1]);
                }

                // The body is read though unused: closing on unread data would reset the connection
                // before the client reads the answer.
                ReadBody(tls, head);
                var location = new Uri(_target, request[1]).AbsoluteUri;
                var reply = $"HTTP/1.1 {Status} Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                tls.Write(Encoding.ASCII.GetBytes(reply));
                tls.Flush();
            }
            catch (Exception ex) when (ex is IOException || ex is System.Security.Authentication.AuthenticationException || ex is ObjectDisposedException)
            {
                // A client that gave up, or did not trust the certificate: nothing to answer.
            }
        }
    }

    private static void ReadBody(Stream stream, string head)
    {
        var length = 0;
        foreach (var line in head.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(line.Substring(15).Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value))
            {
                length = Math.Min(value, 1 << 20);
            }
        }

        var buffer = new byte[4096];
        while (length > 0)
        {
            var n = stream.Read(buffer, 0, Math.Min(buffer.Length, length));
            if (n == 0)
            {
                return;
            }

            length -= n;
        }
    }

    private static string ReadHead(Stream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && head.Length < 16384)
        {
            if (stream.Read(one, 0, 1) == 0)
            {
                break;
            }

            head.Append((char)one[0]);
        }

        return head.ToString();
    }
}
