-- Sample data, step 3: about 50,000 * scale customers, spread over the stores by their
-- share of orders, with names, a unique email and a fictional (555) phone number.
create table zava_seed.first_names as
select
    name,
    position::integer
from unnest(array[
    'James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David',
    'Elizabeth', 'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas',
    'Sarah', 'Charles', 'Karen', 'Christopher', 'Lisa', 'Daniel', 'Nancy', 'Matthew', 'Betty',
    'Anthony', 'Sandra', 'Mark', 'Margaret', 'Donald', 'Ashley', 'Steven', 'Kimberly', 'Andrew',
    'Emily', 'Paul', 'Donna', 'Joshua', 'Michelle', 'Kenneth', 'Carol', 'Kevin', 'Amanda',
    'Brian', 'Melissa', 'Timothy', 'Deborah', 'Ronald', 'Stephanie', 'Jason', 'Rebecca',
    'George', 'Sharon', 'Edward', 'Laura', 'Jeffrey', 'Cynthia', 'Ryan', 'Amy', 'Jacob',
    'Kathleen', 'Nicholas', 'Angela', 'Eric', 'Shirley', 'Jonathan', 'Brenda', 'Stephen',
    'Emma', 'Larry', 'Anna', 'Justin', 'Pamela', 'Scott', 'Nicole', 'Brandon', 'Samantha',
    'Benjamin', 'Katherine', 'Samuel', 'Christine', 'Gregory', 'Helen', 'Alexander', 'Debra',
    'Patrick', 'Rachel', 'Frank', 'Carolyn', 'Raymond', 'Janet', 'Jack', 'Maria', 'Dennis',
    'Olivia', 'Jerry', 'Heather', 'Tyler', 'Diane', 'Aaron', 'Julie', 'Jose', 'Joyce', 'Adam',
    'Victoria', 'Nathan', 'Ruth', 'Henry', 'Virginia', 'Zachary', 'Lauren', 'Douglas', 'Kelly',
    'Peter', 'Christina', 'Kyle', 'Joan', 'Noah', 'Evelyn', 'Ethan', 'Judith', 'Jeremy',
    'Andrea', 'Walter', 'Hannah', 'Christian', 'Megan', 'Keith', 'Cheryl', 'Roger', 'Jacqueline',
    'Terry', 'Martha', 'Austin', 'Madison', 'Sean', 'Teresa', 'Gerald', 'Gloria', 'Carl', 'Sara',
    'Harold', 'Janice', 'Dylan', 'Ann', 'Arthur', 'Kathryn', 'Lawrence', 'Abigail', 'Jordan',
    'Sophia', 'Jesse', 'Frances', 'Bryan', 'Jean', 'Billy', 'Alice', 'Bruce', 'Judy', 'Gabriel',
    'Isabella', 'Joe', 'Julia', 'Logan', 'Grace', 'Alan', 'Amber', 'Juan', 'Denise', 'Albert',
    'Danielle', 'Willie', 'Marilyn', 'Elijah', 'Beverly', 'Wayne', 'Charlotte', 'Randy',
    'Natalie', 'Mason', 'Theresa', 'Vincent', 'Diana', 'Liam', 'Brittany', 'Roy', 'Doris',
    'Bobby', 'Kayla', 'Caleb', 'Alexis', 'Bradley', 'Lori', 'Russell', 'Marie', 'Lucas', 'Mei',
    'Hiroshi', 'Priya', 'Arjun', 'Fatima', 'Omar', 'Sofia', 'Mateo', 'Aisha', 'Wei', 'Yuki',
    'Ingrid', 'Lars', 'Nadia', 'Tariq', 'Elena', 'Diego', 'Amara', 'Kofi', 'Leilani', 'Kai'
]) with ordinality as listed (name, position);

create table zava_seed.last_names as
select
    name,
    position::integer
from unnest(array[
    'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez',
    'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor',
    'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez',
    'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King', 'Wright',
    'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson', 'Baker', 'Hall',
    'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Roberts', 'Gomez', 'Phillips', 'Evans',
    'Turner', 'Diaz', 'Parker', 'Cruz', 'Edwards', 'Collins', 'Reyes', 'Stewart', 'Morris',
    'Morales', 'Murphy', 'Cook', 'Rogers', 'Gutierrez', 'Ortiz', 'Morgan', 'Cooper', 'Peterson',
    'Bailey', 'Reed', 'Kelly', 'Howard', 'Ramos', 'Kim', 'Cox', 'Ward', 'Richardson', 'Watson',
    'Brooks', 'Chavez', 'Wood', 'James', 'Bennett', 'Gray', 'Mendoza', 'Ruiz', 'Hughes', 'Price',
    'Alvarez', 'Castillo', 'Sanders', 'Patel', 'Myers', 'Long', 'Ross', 'Foster', 'Jimenez',
    'Powell', 'Jenkins', 'Perry', 'Russell', 'Sullivan', 'Bell', 'Coleman', 'Butler',
    'Henderson', 'Barnes', 'Gonzales', 'Fisher', 'Vasquez', 'Simmons', 'Romero', 'Jordan',
    'Patterson', 'Alexander', 'Hamilton', 'Graham', 'Reynolds', 'Griffin', 'Wallace', 'Moreno',
    'West', 'Cole', 'Hayes', 'Bryant', 'Herrera', 'Gibson', 'Ellis', 'Tran', 'Medina', 'Aguilar',
    'Stevens', 'Murray', 'Ford', 'Castro', 'Marshall', 'Owens', 'Harrison', 'Fernandez',
    'McDonald', 'Woods', 'Washington', 'Kennedy', 'Wells', 'Vargas', 'Henry', 'Chen', 'Freeman',
    'Webb', 'Tucker', 'Guzman', 'Burns', 'Crawford', 'Olson', 'Simpson', 'Porter', 'Hunter',
    'Gordon', 'Mendez', 'Silva', 'Shaw', 'Snyder', 'Mason', 'Dixon', 'Munoz', 'Hunt', 'Hicks',
    'Holmes', 'Palmer', 'Wagner', 'Black', 'Robertson', 'Boyd', 'Rose', 'Stone', 'Salazar', 'Fox',
    'Warren', 'Mills', 'Meyer', 'Rice', 'Schmidt', 'Garza', 'Daniels', 'Ferguson', 'Nichols',
    'Stephens', 'Soto', 'Weaver', 'Ryan', 'Gardner', 'Payne', 'Grant', 'Dunn', 'Kelley', 'Spencer',
    'Hawkins', 'Arnold', 'Pierce', 'Hansen', 'Peters', 'Santos', 'Hart', 'Bradley', 'Knight',
    'Elliott', 'Cunningham', 'Duncan', 'Armstrong', 'Hudson', 'Carroll', 'Lane', 'Riley',
    'Andrews', 'Ray', 'Berry', 'Perkins', 'Hoffman', 'Johnston', 'Matthews', 'Pena', 'Richards',
    'Yamamoto', 'Singh', 'Okafor', 'Larsen', 'Novak', 'Kowalski', 'Haddad', 'Sato', 'Lindqvist'
]) with ordinality as listed (name, position);

-- Each customer's store: the store whose cumulative share bracket holds a random draw.
create table zava_seed.store_brackets as
select
    store_id,
    area_code,
    coalesce(sum(share) over (order by store_id rows between unbounded preceding and 1 preceding), 0)
    / sum(share) over () as bracket_start,
    sum(share) over (order by store_id) / sum(share) over () as bracket_end
from zava_seed.store_profile;

insert into retail.customers (
    customer_id, first_name, last_name, email, phone, primary_store_id, created_at
)
select
    drawn.customer_id,
    first_name.name as first_name,
    last_name.name as last_name,
    lower(first_name.name || '.' || last_name.name || '.' || drawn.customer_id || '@example.com') as email,
    case
        when zava_seed.fraction(drawn.customer_id, 34) < 0.92
            then
                '(' || store.area_code || ') 555-'
                || lpad((floor(zava_seed.fraction(drawn.customer_id, 35) * 10000))::integer::text, 4, '0')
    end as phone,
    store.store_id,
    timestamptz '2019-01-01 00:00:00+00'
    + (zava_seed.fraction(drawn.customer_id, 36) * (date '2026-10-31' - date '2019-01-01')) * interval '1 day'
        as created_at
from (
    select customer_id
    from generate_series(1, greatest(round(50000 * zava_seed.scale()), 100)::integer) as customer_id
) as drawn
inner join zava_seed.store_brackets as store
    on
        zava_seed.fraction(drawn.customer_id, 30) >= store.bracket_start
        and zava_seed.fraction(drawn.customer_id, 30) < store.bracket_end
inner join zava_seed.first_names as first_name
    on first_name.position = 1 + floor(zava_seed.fraction(drawn.customer_id, 31) * (select count(*) from zava_seed.first_names))
inner join zava_seed.last_names as last_name
    on last_name.position = 1 + floor(zava_seed.fraction(drawn.customer_id, 32) * (select count(*) from zava_seed.last_names))
order by drawn.customer_id;

-- Customers numbered within their store, so an order can draw one of its store's.
create table zava_seed.store_customers as
select
    primary_store_id as store_id,
    row_number() over (partition by primary_store_id order by customer_id) as store_position,
    customer_id
from retail.customers;
create unique index on zava_seed.store_customers (store_id, store_position);
