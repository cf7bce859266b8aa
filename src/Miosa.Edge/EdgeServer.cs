using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Miosa.Edge;

/// <summary>The edge node's listener: previews and deployments by Host header.</summary>
public sealed class EdgeServer(WebApplication app) : IAsyncDisposable
{
    /// <summary>Headers beyond this answer 431: no preview needs more, and they cost memory per connection.</summary>
    public const int MaxRequestHeadersBytes = 32 * 1024;

    /// <summary>A client that has not sent its headers by then is cut off (slowloris).</summary>
    public static readonly TimeSpan RequestHeadersTimeout = TimeSpan.FromSeconds(10);

    public string Url { get; } = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    public static async Task<EdgeServer> StartAsync(string bindHost, int port, EdgeRoutes routes, EdgeSettings settings, ReleaseCache? releases = null,
        DeploymentEgress? egress = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls($"http://{bindHost}:{port}");
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestHeadersTotalSize = MaxRequestHeadersBytes;
            kestrel.Limits.RequestHeadersTimeout = RequestHeadersTimeout;
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(60);
        });
        builder.Services.AddHttpForwarder();
        var app = builder.Build();
        var proxy = new PreviewProxy(routes, settings, app.Services.GetRequiredService<IHttpForwarder>(), TimeProvider.System);
        var deployments = releases is null ? null : new DeploymentServer(routes, settings.BaseDomain, releases, egress);
        // Previews first: a preview host never becomes a deployment's.
        app.Run(http => deployments is null || PreviewAddress.Parse(http.Request.Host.Host, settings.BaseDomain, routes.Current) is not null
            || deployments.Find(http) is not { } deployment
            ? proxy.HandleAsync(http)
            : deployments.ServeAsync(http, deployment));
        await app.StartAsync();
        return new EdgeServer(app);
    }

    public ValueTask DisposeAsync() => app.DisposeAsync();
}
