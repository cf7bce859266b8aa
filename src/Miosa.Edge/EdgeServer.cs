using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Miosa.Edge;

/// <summary>
/// The edge node's listener: previews, deployments and domains by Host header. Until routes exist
/// (previews issue) every host answers the not-found page.
/// </summary>
public sealed class EdgeServer(WebApplication app) : IAsyncDisposable
{
    public string Url { get; } = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    public static async Task<EdgeServer> StartAsync(string bindHost, int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls($"http://{bindHost}:{port}");
        var app = builder.Build();
        app.Run(async http =>
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            http.Response.ContentType = "text/html; charset=utf-8";
            await http.Response.WriteAsync("<!doctype html><title>Not found</title><h1>Nothing is served at this address</h1>");
        });
        await app.StartAsync();
        return new EdgeServer(app);
    }

    public ValueTask DisposeAsync() => app.DisposeAsync();
}
