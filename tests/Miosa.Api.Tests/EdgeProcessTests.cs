using System.Net;

namespace Miosa.Api.Tests;

/// <summary>
/// Edges as processes of their own: an API node, a host node and two edge nodes joined from seeds.
/// Both edges get the routes that existed before they joined, every later change, revocations and
/// branding, and keep serving when the control plane dies.
/// </summary>
public sealed class EdgeProcessTests : IAsyncLifetime
{
    private const string Secret = "edge-process-test-cluster-secret";
    private readonly MiosaNode _api = new();
    private readonly MiosaNode _host = new();
    private readonly MiosaNode _edge1 = new();
    private readonly MiosaNode _edge2 = new();

    public async Task InitializeAsync()
    {
        _api.Environment["MIOSA_ROLES"] = "api";
        _api.Environment["MIOSA_NODE_NAME"] = "api-1";
        _api.Environment["MIOSA_CLUSTER_SECRET"] = Secret;
        await _api.StartAsync();
        Join(_host, "host", "host-1");
        await _host.StartAsync();
    }

    private void Join(MiosaNode node, string roles, string name)
    {
        node.Environment["MIOSA_ROLES"] = roles;
        node.Environment["MIOSA_NODE_NAME"] = name;
        node.Environment["MIOSA_CLUSTER_SECRET"] = Secret;
        node.Environment["MIOSA_SEEDS"] = $"akka.tcp://miosa@127.0.0.1:{_api.AkkaPort}";
    }

    public async Task DisposeAsync()
    {
        foreach (var node in new[] { _edge2, _edge1, _host, _api }) await node.DisposeAsync();
    }

    [Fact]
    public async Task Two_edge_processes_serve_previews_follow_revocations_and_branding_and_outlive_the_control_plane()
    {
        using var api = _api.Client();
        var id = await api.CreateSandboxAsync();
        await PreviewApp.StartAsync(api, id, 3000);
        var open = await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3000, visibility = "public" }, HttpStatusCode.Created);
        var url = open.GetProperty("url").GetString()!;
        // A second dev server behind a private preview, shared by link.
        await PreviewApp.StartAsync(api, id, 3001);
        var priv = (await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3001 }, HttpStatusCode.Created)).GetProperty("url").GetString()!;
        var share = await api.PostJsonAsync("/v1/share-tokens", new { sandbox_id = id, port = 3001 }, HttpStatusCode.Created);

        // A table larger than one remoting message (about 170 KB: 16 sandboxes of 100 previews each):
        // the late edges walk it in pages. The last of them is checked below.
        string? last = null, holder = null;
        for (var i = 0; i < 16; i++)
        {
            holder = await api.CreateSandboxAsync(new { timeout_seconds = 0 });
            for (var port = 1000; port < 1100; port++)
                last = (await api.PostJsonAsync($"/v1/sandboxes/{holder}/previews", new { port, visibility = "public" }, HttpStatusCode.Created)).GetProperty("url").GetString();
        }
        // A sandbox's previews are bounded (its route travels whole to every edge).
        await (await api.PostAsync($"/v1/sandboxes/{holder}/previews", MiosaNode.Json(new { port = 2000 })))
            .AssertProblemAsync(HttpStatusCode.Conflict, "preview_limit_reached", "port");

        // Edges that join after the routes exist get them in the full table, before they say ready.
        Join(_edge1, "edge", "edge-1");
        Join(_edge2, "edge", "edge-2");
        await Task.WhenAll(_edge1.StartAsync(), _edge2.StartAsync());
        using var visitor1 = new PreviewVisitor(_edge1.EdgePort);
        using var visitor2 = new PreviewVisitor(_edge2.EdgePort);
        foreach (var visitor in new[] { visitor1, visitor2 })
        {
            var page = await visitor.GetAsync(Port(url, visitor == visitor1 ? _edge1 : _edge2));
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("Hello from the sandbox", await page.Content.ReadAsStringAsync());
        }

        // The last page of the table reached both: its route is known (nothing listens there: 502, not 404).
        Assert.Equal(HttpStatusCode.BadGateway, (await visitor1.GetAsync(Port(last!, _edge1))).StatusCode);
        Assert.Equal(HttpStatusCode.BadGateway, (await visitor2.GetAsync(Port(last!, _edge2))).StatusCode);

        // A share link opens on both edges, and its revocation reaches both.
        var shareUrl = share.GetProperty("url").GetString()!;
        Assert.Equal(HttpStatusCode.Found, (await visitor1.GetAsync(Port(shareUrl, _edge1))).StatusCode);
        Assert.Equal(HttpStatusCode.Found, (await visitor2.GetAsync(Port(shareUrl, _edge2))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync($"/v1/share-tokens/{share.GetProperty("id").GetString()}")).StatusCode);
        await visitor1.WaitForAsync(Port(shareUrl, _edge1), HttpStatusCode.Unauthorized);
        await visitor2.WaitForAsync(Port(shareUrl, _edge2), HttpStatusCode.Unauthorized);

        // Branding reaches both edges' pages.
        Assert.Equal(HttpStatusCode.OK, (await api.PutAsync("/v1/tenant/branding",
            MiosaNode.Json(new { logo_url = "https://acme.test/logo.png", accent_color = "#123456" }))).StatusCode);
        foreach (var (visitor, edge) in new[] { (visitor1, _edge1), (visitor2, _edge2) })
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            string page;
            do page = await (await visitor.GetAsync(Port(priv, edge))).Content.ReadAsStringAsync();
            while (!page.Contains("#123456") && DateTime.UtcNow < deadline);
            Assert.Contains("#123456", page);
        }

        // The control plane dies: the edges keep serving the routes they have.
        await _api.KillAsync();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await visitor1.GetAsync(Port(url, _edge1))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await visitor2.GetAsync(Port(url, _edge2))).StatusCode);
            await Task.Delay(500);
        }
    }

    /// <summary>The API names its own edge port in URLs; the same host on another edge's port.</summary>
    private string Port(string url, MiosaNode edge) => url.Replace($":{_api.EdgePort}/", $":{edge.EdgePort}/");
}
