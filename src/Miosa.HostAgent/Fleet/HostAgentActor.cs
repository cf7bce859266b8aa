using Akka.Actor;
using Akka.Event;
using Miosa.Actors.Common;
using Miosa.Actors.Fleet;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.Snapshots;
using Miosa.HostAgent.Sandboxes;
using DriverSpec = Miosa.HostAgent.Sandboxes.SandboxSpec;

namespace Miosa.HostAgent.Fleet;

/// <summary>Who this host is in the fleet.</summary>
public sealed record HostIdentity(string Host, string Region, string IngressUrl, double Cpu, long MemoryMb);

/// <summary>
/// One per fleet node: registers with the scheduler (and keeps re-registering, so a new singleton
/// learns the fleet), runs the sandboxes it is told to through the driver, and after a restart asks
/// each sandbox it finds on disk whether it should still run here. It also meters its sandboxes:
/// every usage interval it reads their counters (off the mailbox) and tells each entity its window.
/// </summary>
public sealed class HostAgentActor : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan RegisterEvery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ReconcileTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan IdleSweepEvery = TimeSpan.FromSeconds(1);

    /// <summary>Beyond this many sandboxes a 2-core node spends more on bookkeeping than on work.</summary>
    private const int MaxSandboxes = 1000;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ISandboxDriver _driver;
    private readonly HostIdentity _identity;
    private readonly IActorRef _scheduler;
    private readonly IActorRef _sandboxes;
    private readonly IReadOnlyList<string> _sandboxesOnDisk;
    private readonly TimeSpan _usageInterval;
    private readonly UsageMeter _meter = new();
    private bool _sampling;
    private readonly Dictionary<string, int> _committedMemoryMb = [];
    private readonly TaskCompletionSource _reconciliation;
    private readonly SandboxActivity _activity;
    private readonly SandboxTemplates _templates;
    private readonly TimeSpan _hibernateAfter;
    private readonly Dictionary<string, DateTimeOffset> _frozenSince = [];
    private readonly HashSet<string> _hibernationAsked = [];

    public HostAgentActor(ISandboxDriver driver, HostIdentity identity, IActorRef scheduler, IActorRef sandboxes,
        IReadOnlyList<string> sandboxesOnDisk, TimeSpan usageInterval, TaskCompletionSource reconciliation, SandboxActivity activity,
        TimeSpan hibernateAfter, SandboxTemplates templates)
    {
        _templates = templates;
        _activity = activity;
        _hibernateAfter = hibernateAfter;
        _driver = driver;
        _identity = identity;
        _scheduler = scheduler;
        _sandboxes = sandboxes;
        _sandboxesOnDisk = sandboxesOnDisk;
        _usageInterval = usageInterval;
        _reconciliation = reconciliation;

        Receive<Register>(_ => _scheduler.Tell(Registration()));
        Receive<StartSandboxOnHost>(start =>
        {
            var replyTo = Sender;
            var self = Self;
            var spec = start.Spec;
            _driver.StartAsync(ToDriverSpec(spec), CancellationToken.None).ContinueWith(t =>
            {
                if (!t.IsCompletedSuccessfully)
                    return (object)new SandboxStartFailedOnHost(spec.SandboxId, _identity.Host, t.Exception?.GetBaseException().Message ?? "cancelled");
                self.Tell(new Hosted(spec.SandboxId, spec.Resources.MemoryMb));
                _activity.Started(spec.SandboxId, start.IdleTimeoutSeconds);
                return new SandboxStartedOnHost(spec.SandboxId, _identity.Host, _identity.IngressUrl);
            }, TaskScheduler.Default).PipeTo(replyTo);
        });
        // Snapshots (SnapshotsOnHost): stored and deleted here, the host that holds their content.
        Receive<SnapshotSandboxOnHost>(s => SnapshotsOnHost.StoreAsync(_driver, _identity.Host, s).PipeTo(Sender));
        Receive<DeleteSnapshotOnHost>(d => SnapshotsOnHost.DeleteAsync(_driver, d).PipeTo(Sender));
        Receive<RestoreSandboxOnHost>(restore =>
        {
            var replyTo = Sender;
            var self = Self;
            var spec = restore.Spec;
            Thawed(spec.SandboxId);
            SnapshotsOnHost.RestoreAsync(_driver, ToDriverSpec(spec), restore.SnapshotId).ContinueWith(t =>
            {
                if (!t.IsCompletedSuccessfully)
                    return (object)new SandboxStartFailedOnHost(spec.SandboxId, _identity.Host, t.Exception?.GetBaseException().Message ?? "cancelled");
                self.Tell(new Hosted(spec.SandboxId, spec.Resources.MemoryMb));
                _activity.Started(spec.SandboxId, restore.IdleTimeoutSeconds);
                return new SandboxStartedOnHost(spec.SandboxId, _identity.Host, _identity.IngressUrl);
            }, TaskScheduler.Default).PipeTo(replyTo);
        });
        Receive<DestroySandboxOnHost>(destroy =>
        {
            Thawed(destroy.SandboxId);
            _activity.Forget(destroy.SandboxId);
            var replyTo = Sender;
            var self = Self;
            _driver.DestroyAsync(destroy.SandboxId, CancellationToken.None).ContinueWith(t =>
            {
                if (!t.IsCompletedSuccessfully) _log.Error(t.Exception, "Destroying sandbox {0} failed", destroy.SandboxId);
                self.Tell(new Hosted(destroy.SandboxId, null));
                return new SandboxDestroyedOnHost(destroy.SandboxId);
            }, TaskScheduler.Default).PipeTo(replyTo);
        });
        Receive<SuspendSandboxOnHost>(s =>
        {
            var done = _driver.Suspend(s.SandboxId);
            if (done) _frozenSince[s.SandboxId] = DateTimeOffset.UtcNow;
            Sender.Tell(new SandboxHostActionDone(s.SandboxId, done));
        });
        Receive<ResumeSandboxOnHost>(r =>
        {
            var done = _driver.Resume(r.SandboxId);
            if (done) Thawed(r.SandboxId);
            Sender.Tell(new SandboxHostActionDone(r.SandboxId, done));
        });
        Receive<StopSandboxOnHost>(stop =>
        {
            var replyTo = Sender;
            var self = Self;
            var running = _driver.Find(stop.SandboxId) is not null;
            Thawed(stop.SandboxId);
            _activity.Forget(stop.SandboxId);
            _driver.StopAsync(stop.SandboxId, CancellationToken.None).ContinueWith(t =>
            {
                self.Tell(new Hosted(stop.SandboxId, null));
                return new SandboxHostActionDone(stop.SandboxId, t.IsCompletedSuccessfully && running);
            }, TaskScheduler.Default).PipeTo(replyTo);
        });
        // Idle sandboxes are suspended, long-suspended ones hibernated: the entity decides and drives it.
        Receive<SweepIdle>(_ =>
        {
            var now = DateTimeOffset.UtcNow;
            foreach (var id in _activity.TakeIdle())
                _sandboxes.Tell(new SuspendSandbox(id, null, now));
            foreach (var (id, since) in _frozenSince)
            {
                if (now - since >= _hibernateAfter && _hibernationAsked.Add(id))
                    _sandboxes.Tell(new SuspendSandbox(id, null, now, Hibernate: true));
            }
        });
        Receive<SandboxView>(_ => { });
        Receive<Rejection>(r => _log.Debug("Sandbox suspension refused: {0}", r.Detail));
        // What this host holds changed: report at once, so the scheduler's figures stay true.
        Receive<Hosted>(h =>
        {
            if (h.MemoryMb is { } memory) _committedMemoryMb[h.SandboxId] = memory;
            else _committedMemoryMb.Remove(h.SandboxId);
            _scheduler.Tell(Registration());
        });
        Receive<SandboxStartedOnHost>(_ => { });
        Receive<SandboxStartFailedOnHost>(f => _log.Error("Sandbox {0} could not restart: {1}", f.SandboxId, f.Reason));
        Receive<SandboxDestroyedOnHost>(_ => { });
        Receive<SampleUsage>(_ =>
        {
            // A slow workspace walk must not pile up samples behind it.
            if (_sampling) return;
            _sampling = true;
            var driver = _driver;
            var running = driver.Running.Select(s => (s, _meter.StorageDue(s.SandboxId, s.StartedAt))).ToList();
            Task.Run(() => ReadUsage(driver, running)).PipeTo(Self);
        });
        Receive<UsageSampled>(sampled =>
        {
            _sampling = false;
            foreach (var w in _meter.Record(sampled.Readings, sampled.At))
                _sandboxes.Tell(new RecordSandboxUsage(w.SandboxId, w.Start, w.End, w.CpuSeconds, w.MemoryMbSeconds, w.StorageBytes,
                    _activity.TakeEgress(w.SandboxId)));
        });
        Receive<Status.Failure>(f =>
        {
            _sampling = false;
            _log.Warning("Reading sandbox usage failed: {0}", f.Cause.Message);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        _scheduler.Tell(Registration());
        Timers.StartPeriodicTimer("register", Register.Instance, RegisterEvery);
        Timers.StartPeriodicTimer("usage", SampleUsage.Instance, _usageInterval);
        Timers.StartPeriodicTimer("idle", SweepIdle.Instance, IdleSweepEvery);
        var reconciliation = _reconciliation;
        Task.WhenAll(_sandboxesOnDisk.Select(ReconcileAsync)).ContinueWith(_ => reconciliation.TrySetResult(), TaskScheduler.Default);
    }

    /// <summary>
    /// After a restart: asks the sandbox's entity what to do with what is on disk, does it, and
    /// records the new address, so the node is ready only once its sandboxes answer again.
    /// </summary>
    private async Task ReconcileAsync(string sandboxId)
    {
        var self = Self;
        try
        {
            var answer = await _sandboxes.Ask<object>(new ReconcileSandbox(sandboxId, _identity.Host), ReconcileTimeout);
            if (answer is StartSandboxOnHost start)
            {
                await _driver.StartAsync(ToDriverSpec(start.Spec), CancellationToken.None);
                _activity.Started(sandboxId, start.IdleTimeoutSeconds);
                self.Tell(new Hosted(sandboxId, start.Spec.Resources.MemoryMb));
                var recorded = await _sandboxes.Ask<object>(
                    new RecordSandboxStarted(sandboxId, _identity.Host, _identity.IngressUrl, DateTimeOffset.UtcNow), ReconcileTimeout);
                if (recorded is not SandboxView { Status: SandboxStatus.Running }) answer = new DestroySandboxOnHost(sandboxId);
            }
            if (answer is DestroySandboxOnHost)
            {
                await _driver.DestroyAsync(sandboxId, CancellationToken.None);
                self.Tell(new Hosted(sandboxId, null));
            }
        }
        catch (Exception e)
        {
            _log.Error(e, "Could not reconcile sandbox {0} after the restart", sandboxId);
        }
    }

    private void Thawed(string sandboxId)
    {
        _frozenSince.Remove(sandboxId);
        _hibernationAsked.Remove(sandboxId);
        _activity.Resumed(sandboxId);
    }

    private RegisterHost Registration() => new(
        _identity.Host, _identity.Region, _identity.IngressUrl, [_driver.Name],
        new HostCapacity(_identity.Cpu, _identity.MemoryMb, _committedMemoryMb.Count, _committedMemoryMb.Values.Sum(m => (long)m), MaxSandboxes), Self);

    private DriverSpec ToDriverSpec(Miosa.Actors.Sandboxes.SandboxSpec spec) => ToDriverSpec(spec, _templates);

    private static DriverSpec ToDriverSpec(Miosa.Actors.Sandboxes.SandboxSpec spec, SandboxTemplates templates)
    {
        var template = templates.Find(spec.Template) ?? templates.Find(SandboxTemplates.Default)!;
        return new DriverSpec(
            spec.SandboxId,
            new SandboxTemplate(template.Name, template.Env, template.SystemRoot),
            spec.Env,
            new SandboxLimits(spec.Resources.Cpu, spec.Resources.MemoryMb, spec.Resources.Pids) { DiskMb = spec.Resources.DiskMb })
        {
            AllowInternet = spec.AllowInternet,
            Seed = spec.SnapshotId is null && spec.ForkOf is null ? null : new WorkspaceSeed(spec.SnapshotId, spec.ForkOf),
        };
    }

    private static UsageSampled ReadUsage(ISandboxDriver driver, IReadOnlyList<(RunningSandbox Sandbox, bool Storage)> running)
    {
        // Counters first, all at one moment (the window's end); the slow workspace walks after.
        var counters = running
            .Select(r => (r.Sandbox, r.Storage, Usage: driver.ReadUsage(r.Sandbox.SandboxId)))
            .Where(r => r.Usage is not null)
            .ToList();
        var at = DateTimeOffset.UtcNow;
        var readings = counters.Select(r => new UsageReading(r.Sandbox.SandboxId, r.Sandbox.StartedAt, r.Usage!.CpuTime,
            r.Usage.MemoryBytes, r.Storage ? driver.MeasureWorkspace(r.Sandbox.SandboxId) : null)).ToList();
        return new UsageSampled(readings, at);
    }

    /// <param name="reconciliation">Completed once every sandbox found on disk was started again or deleted.</param>
    /// <param name="activity">What the node ingress saw the sandboxes do (idle timeouts).</param>
    /// <param name="hibernateAfter">How long a sandbox stays frozen before its processes are stopped to free memory.</param>
    public static Props PropsFor(ISandboxDriver driver, HostIdentity identity, IActorRef scheduler, IActorRef sandboxes,
        IReadOnlyList<string> onDisk, TimeSpan usageInterval, TaskCompletionSource reconciliation, SandboxActivity activity, TimeSpan hibernateAfter,
        SandboxTemplates templates) =>
        Props.Create(() => new HostAgentActor(driver, identity, scheduler, sandboxes, onDisk, usageInterval, reconciliation, activity, hibernateAfter, templates));

    /// <summary>A sandbox started here with that memory limit, or (null) left.</summary>
    private sealed record Hosted(string SandboxId, int? MemoryMb);

    private sealed class Register
    {
        public static readonly Register Instance = new();
    }

    private sealed class SweepIdle
    {
        public static readonly SweepIdle Instance = new();
    }

    private sealed class SampleUsage
    {
        public static readonly SampleUsage Instance = new();
    }

    private sealed record UsageSampled(IReadOnlyList<UsageReading> Readings, DateTimeOffset At);
}
