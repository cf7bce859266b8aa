using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Http.Features;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.Terminals;
using Miosa.HostAgent.Ingress;
using Yarp.ReverseProxy.Forwarder;

namespace Miosa.Api.Sandboxes;

/// <summary>
/// Forwards an authorised terminal WebSocket to the node ingress of the sandbox's host
/// (<c>/node/v1/sandboxes/{id}/terminal?cols=&amp;rows=</c>, node token): after the upgrade the bytes
/// pass through untouched. The browser's token, cookies and any Authorization never reach the host.
/// </summary>
public sealed class SandboxTerminalProxy(IHttpForwarder forwarder, string clusterSecret)
{
    private readonly HttpMessageInvoker _invoker = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(5),
    });

    private readonly ForwarderRequestConfig _config = new()
    {
        // The ingress shows an idle terminal is alive every 20 s; this only ends a dead tunnel.
        ActivityTimeout = TimeSpan.FromHours(1),
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
    };

    /// <summary>An HTTP/1.1 upgrade to websocket, or an HTTP/2 extended CONNECT for one.</summary>
    public static bool IsWebSocketRequest(HttpContext http) =>
        http.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true, Protocol: var protocol }
            ? string.Equals(protocol, "websocket", StringComparison.OrdinalIgnoreCase)
            : HttpMethods.IsGet(http.Request.Method) && http.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true
              && http.Request.Headers.Upgrade.Any(u => string.Equals(u, "websocket", StringComparison.OrdinalIgnoreCase));

    public async Task ForwardAsync(HttpContext http, SandboxView sandbox, TerminalGrant grant)
    {
        var error = await forwarder.SendAsync(http, sandbox.IngressUrl!, _invoker, _config, new ToIngress(clusterSecret, sandbox.Id, grant));
        if (error == ForwarderError.None || http.Response.HasStarted) return;
        http.Response.Clear();
        await Problems.Of(503, "host_unreachable", $"The host running sandbox {sandbox.Id} did not answer ({error}).").ExecuteAsync(http);
    }

    private sealed class ToIngress(string clusterSecret, string sandboxId, TerminalGrant grant) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext http, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken ct)
        {
            await base.TransformRequestAsync(http, proxyRequest, destinationPrefix, ct);
            var query = string.Create(CultureInfo.InvariantCulture, $"?cols={grant.Cols}&rows={grant.Rows}");
            proxyRequest.RequestUri = new Uri($"{destinationPrefix.TrimEnd('/')}{NodeIngress.PathPrefix}/{sandboxId}/terminal{query}");
            proxyRequest.Headers.Remove("Authorization");
            proxyRequest.Headers.Remove("Cookie");
            proxyRequest.Headers.Remove(NodeIngress.TokenHeader);
            proxyRequest.Headers.TryAddWithoutValidation(NodeIngress.TokenHeader, clusterSecret);
            proxyRequest.Headers.Host = null;
        }
    }
}
