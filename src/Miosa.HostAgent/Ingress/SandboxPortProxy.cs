using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Miosa.Actors.Common;
using Miosa.Actors.Fleet;
using Miosa.HostAgent.Sandboxes;
using Yarp.ReverseProxy.Forwarder;

namespace Miosa.HostAgent.Ingress;

/// <summary>
/// Proxies HTTP (and WebSocket upgrades) to a TCP port inside a sandbox, for previews. There is no
/// IP route into a sandbox: one <see cref="SocketsHttpHandler"/> for all sandboxes opens each
/// connection through the sandbox agent (<see cref="SandboxAgentClient.ConnectPortAsync"/>),
/// naming the sandbox and port in the destination host <c>{sandboxId}-{port}.sandbox.internal</c>,
/// so connections are pooled per sandbox port.
/// </summary>
public sealed class SandboxPortProxy : IDisposable
{
    public const string HostSuffix = ".sandbox.internal";

    /// <summary>The header carrying the public host the user asked for (the edge sets it); the app sees it as Host.</summary>
    public const string OriginalHostHeader = NodeIngressContract.OriginalHostHeader;

    private readonly ISandboxDriver _driver;
    private readonly SandboxActivity _activity;
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _invoker;

    private readonly ForwarderRequestConfig _config = new()
    {
        // An idle WebSocket (a dev server's hot reload) or SSE stream stays open this long.
        ActivityTimeout = TimeSpan.FromHours(1),
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
    };

    public SandboxPortProxy(ISandboxDriver driver, IHttpForwarder forwarder, SandboxActivity activity)
    {
        _driver = driver;
        _activity = activity;
        _forwarder = forwarder;
        _invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectCallback = ConnectAsync,
        });
    }

    /// <summary>The forwarder's destination for a sandbox port; the id must be a valid host label (see <see cref="IsHostSafe"/>).</summary>
    public static string Destination(string sandboxId, int port) => $"http://{sandboxId}-{port}{HostSuffix}/";

    /// <summary>Sandbox ids are lowercase letters, digits and '_' (and '-'), so they survive a URI host unchanged.</summary>
    public static bool IsHostSafe(string sandboxId) =>
        sandboxId.Length is > 0 and <= 63 && sandboxId.AsSpan().IndexOfAnyExcept("abcdefghijklmnopqrstuvwxyz0123456789_-") < 0;

    /// <summary>Reads back what <see cref="Destination"/> wrote.</summary>
    public static bool TryParseHost(string host, out string sandboxId, out int port)
    {
        sandboxId = string.Empty;
        port = 0;
        if (!host.EndsWith(HostSuffix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var label = host[..^HostSuffix.Length];
        var dash = label.LastIndexOf('-');
        if (dash <= 0 || !int.TryParse(label.AsSpan(dash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            return false;
        }

        sandboxId = label[..dash];
        return true;
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        if (!TryParseHost(context.DnsEndPoint.Host, out var id, out var port))
        {
            throw new SandboxAgentException($"{context.DnsEndPoint.Host} does not name a sandbox port.");
        }

        var running = _driver.Find(id) ?? throw new SandboxAgentException($"Sandbox {id} is not running on this host.");
        return await new SandboxAgentClient(running.AgentSocket).ConnectPortAsync(port, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Forwards the request to <paramref name="port"/> of sandbox <paramref name="id"/>, the path
    /// being what follows <c>/ports/{port}</c>. Answers 400 for a bad port, 409 when the sandbox
    /// does not run here, 502 <c>app_not_listening</c> when nothing accepts on the port.
    /// </summary>
    public async Task<IResult> ForwardAsync(HttpContext http, string id, string portText)
    {
        if (!int.TryParse(portText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            return Answer(http, Rejection.Invalid("port", "port must be a number from 1 to 65535."));
        }

        if (!IsHostSafe(id) || _driver.Find(id) is null)
        {
            return Answer(http, new Rejection("sandbox_not_running", $"Sandbox {id} is not running on this host.", 409));
        }

        // What the app accepts is the app's (and the edge's) business, not the node's.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        var prefix = $"{NodeIngress.PathPrefix}/{id}/ports/{portText}";
        var full = http.Request.Path.Value ?? string.Empty;
        var path = full.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? full[prefix.Length..] : string.Empty;
        var transformer = new ToSandboxApp(port, new PathString(path.Length == 0 ? "/" : path));

        // What the app sends out is its egress (usage); upgraded streams (WebSockets) are not counted yet.
        var body = new CountingStream(http.Response.Body);
        http.Response.Body = body;
        ForwarderError error;
        try
        {
            error = await _forwarder.SendAsync(http, Destination(id, port), _invoker, _config, transformer);
        }
        finally
        {
            _activity.AddEgress(id, body.Written);
        }
        if (error == ForwarderError.None || http.Response.HasStarted)
        {
            return Results.Empty;
        }

        http.Response.Clear();
        var cause = http.Features.Get<IForwarderErrorFeature>()?.Exception;
        for (var e = cause; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SandboxPortClosedException:
                    return Answer(http, new Rejection("app_not_listening", $"App not listening on port {port} in sandbox {id}.", 502));
                case SandboxAgentException { AtProcessLimit: true }:
                    return Answer(http, new Rejection("process_limit_reached", "The sandbox is at its process limit; kill some of its processes and retry.", 429));
                case SandboxAgentException agent:
                    return Answer(http, new Rejection("sandbox_unavailable", $"The sandbox did not answer: {agent.Message}", 503));
            }
        }

        return Answer(http, new Rejection("app_error", $"The app on port {port} in sandbox {id} failed to answer ({error}).", 502));
    }

    /// <summary>An answer of the bridge, not the app: marked so the edge renders its own page instead.</summary>
    private static IResult Answer(HttpContext http, Rejection rejection)
    {
        http.Response.Headers[NodeIngressContract.ErrorHeader] = rejection.Code;
        return rejection.ToResult();
    }

    public void Dispose() => _invoker.Dispose();

    private sealed class ToSandboxApp(int port, PathString path) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext http, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken ct)
        {
            await base.TransformRequestAsync(http, proxyRequest, destinationPrefix, ct);
            proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, path, http.Request.QueryString);
            // The cluster secret never reaches a sandbox.
            proxyRequest.Headers.Remove(NodeIngress.TokenHeader);
            // The app sees the public host it was asked for (the edge names it), else what a local
            // browser would have sent: never the internal routing name.
            var original = http.Request.Headers[OriginalHostHeader].ToString().Split(',')[0].Trim();
            proxyRequest.Headers.Host = original.Length > 0 && Uri.CheckHostName(original.Split(':')[0]) != UriHostNameType.Unknown
                ? original
                : $"localhost:{port}";
        }
    }

    /// <summary>Passes writes through and counts their bytes.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private long _written;

        public long Written => Interlocked.Read(ref _written);

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            Interlocked.Add(ref _written, count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            await inner.WriteAsync(buffer, ct).ConfigureAwait(false);
            Interlocked.Add(ref _written, buffer.Length);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();
    }
}
