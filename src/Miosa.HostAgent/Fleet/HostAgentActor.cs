using Akka.Actor;
using Akka.Event;
using Miosa.Actors.Fleet;
using Miosa.Actors.Sandboxes;
using Miosa.HostAgent.Sandboxes;
using DriverSpec = Miosa.HostAgent.Sandboxes.SandboxSpec;

namespace Miosa.HostAgent.Fleet;

/// <summary>Who this host is in the fleet.</summary>
public sealed record HostIdentity(string Host, string Region, string IngressUrl, double Cpu, long MemoryMb);

/// <summary>
/// One per fleet node: registers with the scheduler (and keeps re-registering, so a new singleton
/// learns the fleet), runs the sandboxes it is told to through the driver, and after a restart asks
/// each sandbox it finds on disk whether it should still run here.
/// </summary>
public sealed class HostAgentActor : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan RegisterEvery = TimeSpan.FromSeconds(5);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ISandboxDriver _driver;
    private readonly HostIdentity _identity;
    private readonly IActorRef _scheduler;
    private readonly IActorRef _sandboxes;
    private readonly IReadOnlyList<string> _sandboxesOnDisk;

    public HostAgentActor(ISandboxDriver driver, HostIdentity identity, IActorRef scheduler, IActorRef sandboxes, IReadOnlyList<string> sandboxesOnDisk)
    {
        _driver = driver;
        _identity = identity;
        _scheduler = scheduler;
        _sandboxes = sandboxes;
        _sandboxesOnDisk = sandboxesOnDisk;

        Receive<Register>(_ => _scheduler.Tell(Registration()));
        Receive<StartSandboxOnHost>(start =>
        {
            var replyTo = Sender;
            var spec = start.Spec;
            _driver.StartAsync(ToDriverSpec(spec), CancellationToken.None).ContinueWith(t => t.IsCompletedSuccessfully
                ? new SandboxStartedOnHost(spec.SandboxId, _identity.Host, _identity.IngressUrl)
                : (object)new SandboxStartFailedOnHost(spec.SandboxId, _identity.Host, t.Exception?.GetBaseException().Message ?? "cancelled"),
                TaskScheduler.Default).PipeTo(replyTo);
        });
        Receive<DestroySandboxOnHost>(destroy =>
        {
            var replyTo = Sender;
            _driver.DestroyAsync(destroy.SandboxId, CancellationToken.None).ContinueWith(t =>
            {
                if (!t.IsCompletedSuccessfully) _log.Error(t.Exception, "Destroying sandbox {0} failed", destroy.SandboxId);
                return new SandboxDestroyedOnHost(destroy.SandboxId);
            }, TaskScheduler.Default).PipeTo(replyTo);
        });
        Receive<SandboxStartedOnHost>(_ => { });
        Receive<SandboxStartFailedOnHost>(f => _log.Error("Sandbox {0} could not restart: {1}", f.SandboxId, f.Reason));
        Receive<SandboxDestroyedOnHost>(_ => { });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        _scheduler.Tell(Registration());
        Timers.StartPeriodicTimer("register", Register.Instance, RegisterEvery);
        foreach (var id in _sandboxesOnDisk) _sandboxes.Tell(new ReconcileSandbox(id, _identity.Host));
    }

    private RegisterHost Registration() => new(
        _identity.Host, _identity.Region, _identity.IngressUrl, [_driver.Name],
        new HostCapacity(_identity.Cpu, _identity.MemoryMb, 0), Self);

    private static DriverSpec ToDriverSpec(Miosa.Actors.Sandboxes.SandboxSpec spec)
    {
        var template = SandboxTemplates.Find(spec.Template) ?? SandboxTemplates.Find(SandboxTemplates.Default)!;
        return new DriverSpec(
            spec.SandboxId,
            new SandboxTemplate(template.Name, template.Env),
            spec.Env,
            new SandboxLimits(spec.Resources.Cpu, spec.Resources.MemoryMb, spec.Resources.Pids));
    }

    public static Props PropsFor(ISandboxDriver driver, HostIdentity identity, IActorRef scheduler, IActorRef sandboxes, IReadOnlyList<string> onDisk) =>
        Props.Create(() => new HostAgentActor(driver, identity, scheduler, sandboxes, onDisk));

    private sealed class Register
    {
        public static readonly Register Instance = new();
    }
}
