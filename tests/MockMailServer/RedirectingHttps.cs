using System;
using System.Collections.Generic;
using System.Security.Cryptography.X509Certificates;

namespace MockMail;

/// <summary>
/// A loopback HTTPS endpoint that answers every request with a redirect (307 by default: the
/// client must send the same POST again) to the same path on another host, e.g. a mock token
/// endpoint, and records what it was asked: a token client that follows it would hand its
/// assertion or secret to wherever the redirect points.
/// </summary>
public sealed class RedirectingHttps : IDisposable
{
    private readonly Uri _target;
    private readonly List<string> _requests = new();
    private readonly LoopbackHttps _https;

    public RedirectingHttps(X509Certificate2 certificate, string target)
    {
        _target = new Uri(target);
        _https = new LoopbackHttps(certificate, "RedirectingHttps", Redirect);
    }

    /// <summary>The redirect's status code: 307 or 308 keep the method and body, 301 to 303 need not.</summary>
    public int Status { get; set; } = 307;

    /// <summary>The listening port; 0 before Start.</summary>
    public int Port => _https.Port;

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

    public void Start() => _https.Start();

    public void Dispose() => _https.Dispose();

    private LoopbackReply Redirect(LoopbackRequest request)
    {
        lock (_requests)
        {
            _requests.Add(request.Method + " " + request.Target);
        }

        return new LoopbackReply(Status, null, new Uri(_target, request.Target).AbsoluteUri);
    }
}
