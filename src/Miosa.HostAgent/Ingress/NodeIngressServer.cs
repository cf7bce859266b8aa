using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Ingress;

/// <summary>The host's own Kestrel on loopback serving <see cref="NodeIngress"/>.</summary>
public sealed class NodeIngressServer(WebApplication app) : IAsyncDisposable
{
    public string Url { get; } = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    public static async Task<NodeIngressServer> StartAsync(ISandboxDriver driver, string clusterSecret, string bindHost, int port,
        SandboxActivity? activity = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls($"http://{bindHost}:{port}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = NodeIngress.MaxExecBodyBytes);
        builder.Services.AddSingleton(driver);
        if (activity is not null) builder.Services.AddSingleton(activity);
        builder.Services.AddNodeIngress();
        var app = builder.Build();
        app.UseWebSockets(); // the terminal endpoint accepts WebSockets itself; proxied ones pass through YARP
        app.MapNodeIngress(clusterSecret);
        await app.StartAsync();
        return new NodeIngressServer(app);
    }

    public ValueTask DisposeAsync() => app.DisposeAsync();
}
