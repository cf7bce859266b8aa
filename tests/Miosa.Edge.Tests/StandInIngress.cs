using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Miosa.Actors.Fleet;

namespace Miosa.Edge.Tests;

/// <summary>
/// A real HTTP server on loopback standing in for a host's node ingress (which needs real sandboxes:
/// the end-to-end preview tests in Miosa.Api.Tests use the real one). It answers what the edge sent it,
/// so tests see exactly what would reach the app.
/// </summary>
public sealed class StandInIngress : IAsyncDisposable
{
    public const string Secret = "stand-in-cluster-secret";
    private readonly WebApplication _app;

    private StandInIngress(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }

    public static async Task<StandInIngress> StartAsync()
    {
        var port = FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        app.Map(NodeIngressContract.PathPrefix + "/{id}/ports/{port}/{**path}", async (string id, string port, string? path, HttpContext http) =>
        {
            if (http.Request.Headers[NodeIngressContract.TokenHeader] != Secret)
            {
                http.Response.StatusCode = 401;
                return;
            }
            if (path == "not-listening")
            {
                http.Response.StatusCode = 502;
                http.Response.Headers[NodeIngressContract.ErrorHeader] = "app_not_listening";
                await http.Response.WriteAsJsonAsync(new { code = "app_not_listening" });
                return;
            }
            await http.Response.WriteAsJsonAsync(new
            {
                sandbox = id,
                port,
                path = "/" + path,
                query = http.Request.QueryString.Value,
                host = http.Request.Headers[NodeIngressContract.OriginalHostHeader].ToString(),
                authorization = http.Request.Headers.Authorization.ToString(),
                cookie = http.Request.Headers.Cookie.ToString(),
            });
        });
        await app.StartAsync();
        return new StandInIngress(app, $"http://127.0.0.1:{port}");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<JsonElement> EchoAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
