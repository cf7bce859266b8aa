using System.Net;
using Miosa.Actors.Fleet;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.Bench.Edge;

/// <summary>
/// One way to reach the same app port in a sandbox, with its own pool of keep-alive connections:
/// (a) the edge by preview host, (b) the host's node ingress route, (c) the sandbox's port bridge
/// (the agent's unix socket) with no HTTP hop in between.
/// </summary>
public sealed class PreviewPath : IDisposable
{
    private readonly HttpClient _client;
    private readonly Func<HttpRequestMessage> _request;

    private PreviewPath(string name, SocketsHttpHandler handler, Func<HttpRequestMessage> request)
    {
        Name = name;
        _client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        _request = request;
    }

    public string Name { get; }

    /// <summary>GET / on the edge's port with the preview's host name, as a browser would send it.</summary>
    public static PreviewPath ThroughEdge(string name, int edgePort, string previewHost, string path = "/", int connections = 64) =>
        new(name, Handler(connections), () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{edgePort}{path}");
            request.Headers.Host = previewHost;
            return request;
        });

    /// <summary>GET {ingress}/node/v1/sandboxes/{id}/ports/{port}/ with the cluster secret: what the edge itself sends.</summary>
    public static PreviewPath ThroughIngress(string name, Uri ingress, string clusterSecret, string sandboxId, int port, int connections = 64) =>
        new(name, Handler(connections), () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, $"{NodeIngressContract.PortPrefix(ingress.ToString(), sandboxId, port)}/");
            request.Headers.TryAddWithoutValidation(NodeIngressContract.TokenHeader, clusterSecret);
            return request;
        });

    /// <summary>
    /// GET / over connections opened by <see cref="SandboxAgentClient.ConnectPortAsync"/> on the
    /// sandbox's agent socket: what the ingress does, without the ingress.
    /// </summary>
    public static PreviewPath ThroughBridge(string name, string agentSocket, int port, int connections = 64)
    {
        var agent = new SandboxAgentClient(agentSocket);
        var handler = Handler(connections);
        handler.ConnectCallback = async (_, ct) => await agent.ConnectPortAsync(port, ct);
        return new(name, handler, () => new HttpRequestMessage(HttpMethod.Get, $"http://localhost:{port}/"));
    }

    /// <summary>Sends one request and reads the whole body; returns the status and the body.</summary>
    public async Task<(HttpStatusCode Status, string Body)> GetAsync(CancellationToken ct)
    {
        using var request = _request();
        using var response = await _client.SendAsync(request, ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }

    /// <summary>Sends one request and drains the body; returns the status.</summary>
    public async Task<HttpStatusCode> StatusAsync(CancellationToken ct)
    {
        using var request = _request();
        using var response = await _client.SendAsync(request, ct);
        await response.Content.CopyToAsync(Stream.Null, ct);
        return response.StatusCode;
    }

    private static SocketsHttpHandler Handler(int connections) => new()
    {
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        MaxConnectionsPerServer = connections,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        ActivityHeadersPropagator = null,
    };

    public void Dispose() => _client.Dispose();
}
