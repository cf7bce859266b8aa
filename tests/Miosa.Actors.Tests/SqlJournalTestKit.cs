using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.Persistence.Sql;
using Akka.Serialization;
using Akka.TestKit.Xunit2;
using LinqToDB;
using Microsoft.Data.Sqlite;
using Miosa.Actors.Common;
using Miosa.Actors.Hosting;
using Miosa.Actors.ReadModels;
using SqlJournalOptions = Akka.Persistence.Sql.Hosting.SqlJournalOptions;

namespace Miosa.Actors.Tests;

/// <summary>
/// A test kit whose journal is Akka.Persistence.Sql on a SQLite file of its own, configured as a node
/// configures it, with the read model database on the same file: projections read the real tables.
/// </summary>
public abstract class SqlJournalTestKit : TestKit
{
    private readonly DirectoryInfo _dir;

    protected SqlJournalTestKit() : this(Directory.CreateTempSubdirectory("miosa-journal-"))
    {
    }

    private SqlJournalTestKit(DirectoryInfo dir) : base(ConfigFor(new MiosaNodeOptions { DataDir = dir.FullName }))
    {
        _dir = dir;
        Database = new ReadModelDatabase(new MiosaNodeOptions { DataDir = dir.FullName });
    }

    protected ReadModelDatabase Database { get; }

    private static Config ConfigFor(MiosaNodeOptions options)
    {
        var journal = new SqlJournalOptions(isDefaultPlugin: true)
        {
            ConnectionString = options.SqliteConnectionString,
            ProviderName = ProviderName.SQLiteMS,
            AutoInitialize = true,
        };
        return ConfigurationFactory.ParseString("akka.persistence.journal.sql.parallelism = 1")
            .WithFallback(SerializingTestConfig.Value)
            .WithFallback(journal.ToConfig())
            .WithFallback(journal.DefaultConfig)
            .WithFallback(SqlPersistence.DefaultConfiguration);
    }

    /// <summary>Persists the events as one atomic write of <paramref name="persistenceId"/>, each with <paramref name="tags"/>.</summary>
    protected async Task WriteAsync(string persistenceId, IReadOnlyList<IMiosaEvent> events, params string[] tags)
    {
        var writer = Sys.ActorOf(Props.Create(() => new EventWriter(persistenceId)));
        var answer = await writer.Ask<object>(new EventWriter.Write(events, tags), TimeSpan.FromSeconds(30));
        Assert.IsType<EventWriter.Written>(answer);
        Sys.Stop(writer);
    }

    /// <summary>
    /// Writes a journal row (and its tag rows) at an ordering of the test's choice, as the journal
    /// writes them: this is how an ordering handed out to a write still in flight, or rolled back, looks.
    /// </summary>
    protected async Task InsertJournalRowAsync(long ordering, string persistenceId, long sequenceNr, IMiosaEvent e, params string[] tags)
    {
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(e);
        await Database.InTransactionAsync(async transaction =>
        {
            await using (var row = ReadModelDatabase.Command(transaction, """
                INSERT INTO journal (ordering, created, deleted, persistence_id, sequence_number, message, manifest, identifier, writer_uuid)
                VALUES (@ordering, 0, 0, @pid, @seq, @message, @manifest, @serializer, 'test')
                """, ("@ordering", ordering), ("@pid", persistenceId), ("@seq", sequenceNr), ("@message", serializer.ToBinary(e)),
                ("@manifest", serializer.Manifest(e)), ("@serializer", serializer.Identifier)))
            {
                await row.ExecuteNonQueryAsync();
            }
            foreach (var tag in tags)
            {
                await using var tagRow = ReadModelDatabase.Command(transaction,
                    "INSERT INTO tags (ordering_id, tag, sequence_nr, persistence_id) VALUES (@ordering, @tag, @seq, @pid)",
                    ("@ordering", ordering), ("@tag", tag), ("@seq", sequenceNr), ("@pid", persistenceId));
                await tagRow.ExecuteNonQueryAsync();
            }
        }, CancellationToken.None);
    }

    protected async Task<long> ScalarAsync(string sql, params (string, object?)[] parameters)
    {
        await using var connection = await Database.OpenAsync(CancellationToken.None);
        await using var command = ReadModelDatabase.Command(connection, sql, parameters);
        return await command.ExecuteScalarAsync() is { } value and not DBNull ? Convert.ToInt64(value) : 0L;
    }

    protected Task<long> JournalMaxAsync() => ScalarAsync("SELECT MAX(ordering) FROM journal");

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!disposing) return;
        SqliteConnection.ClearAllPools();
        _dir.Delete(recursive: true);
    }

    /// <summary>Persists what it is given as one atomic write, every event with the given tags.</summary>
    private sealed class EventWriter : ReceivePersistentActor
    {
        public sealed record Write(IReadOnlyList<IMiosaEvent> Events, IReadOnlyList<string> Tags);

        public sealed record Written;

        public EventWriter(string persistenceId)
        {
            PersistenceId = persistenceId;
            Command<Write>(w =>
            {
                var sender = Sender;
                var remaining = w.Events.Count;
                var tags = w.Tags.ToImmutableHashSet();
                PersistAll(w.Events.Select(e => new Tagged(e, tags)), _ =>
                {
                    if (--remaining == 0) sender.Tell(new Written());
                });
            });
        }

        public override string PersistenceId { get; }
    }
}
