-- The Pagila sample database's schema (the PostgreSQL port of MySQL's Sakila, by Devrim Gunduz;
-- PostgreSQL License), as published, less its views, functions other than the triggers' and
-- ownership/grants; plus a handful of rows so estimates and suggestions have data.
-- It is the "real public schema" of kwtui's planning tests: partitions (payment), an enum
-- (mpaa_rating), a domain (year), an array (special_features), a tsvector (fulltext), triggers,
-- a GiST index, serial columns and a foreign-key cycle (store <-> staff).

CREATE TYPE public.mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE DOMAIN public.year AS integer CONSTRAINT year_check CHECK (((VALUE >= 1901) AND (VALUE <= 2155)));

CREATE FUNCTION public.last_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_update = CURRENT_TIMESTAMP;
    RETURN NEW;
END $$;

CREATE TABLE public.actor (
    actor_id serial PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);
CREATE INDEX idx_actor_last_name ON public.actor USING btree (last_name);

CREATE TABLE public.category (
    category_id serial PRIMARY KEY,
    name text NOT NULL,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.country (
    country_id serial PRIMARY KEY,
    country text NOT NULL,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.city (
    city_id serial PRIMARY KEY,
    city text NOT NULL,
    country_id integer NOT NULL REFERENCES public.country (country_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);
CREATE INDEX idx_fk_country_id ON public.city USING btree (country_id);

CREATE TABLE public.address (
    address_id serial PRIMARY KEY,
    address text NOT NULL,
    address2 text,
    district text NOT NULL,
    city_id integer NOT NULL REFERENCES public.city (city_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    postal_code text,
    phone text NOT NULL,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);
CREATE INDEX idx_fk_city_id ON public.address USING btree (city_id);

CREATE TABLE public.language (
    language_id serial PRIMARY KEY,
    name character(20) NOT NULL,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.film (
    film_id serial PRIMARY KEY,
    title text NOT NULL,
    description text,
    release_year public.year,
    language_id integer NOT NULL REFERENCES public.language (language_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    original_language_id integer REFERENCES public.language (language_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    rental_duration smallint DEFAULT 3 NOT NULL,
    rental_rate numeric(4,2) DEFAULT 4.99 NOT NULL,
    length smallint,
    replacement_cost numeric(5,2) DEFAULT 19.99 NOT NULL,
    rating public.mpaa_rating DEFAULT 'G'::public.mpaa_rating,
    last_update timestamp with time zone DEFAULT now() NOT NULL,
    special_features text[],
    fulltext tsvector NOT NULL
);
CREATE INDEX film_fulltext_idx ON public.film USING gist (fulltext);
CREATE INDEX idx_title ON public.film USING btree (title);
CREATE INDEX idx_fk_language_id ON public.film USING btree (language_id);

CREATE TABLE public.film_actor (
    actor_id integer NOT NULL REFERENCES public.actor (actor_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    film_id integer NOT NULL REFERENCES public.film (film_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamp with time zone DEFAULT now() NOT NULL,
    PRIMARY KEY (actor_id, film_id)
);
CREATE INDEX idx_fk_film_id ON public.film_actor USING btree (film_id);

CREATE TABLE public.film_category (
    film_id integer NOT NULL REFERENCES public.film (film_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    category_id integer NOT NULL REFERENCES public.category (category_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamp with time zone DEFAULT now() NOT NULL,
    PRIMARY KEY (film_id, category_id)
);

CREATE TABLE public.staff (
    staff_id serial PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    address_id integer NOT NULL REFERENCES public.address (address_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    email text,
    store_id integer NOT NULL,
    active boolean DEFAULT true NOT NULL,
    username text NOT NULL,
    password text,
    last_update timestamp with time zone DEFAULT now() NOT NULL,
    picture bytea
);

CREATE TABLE public.store (
    store_id serial PRIMARY KEY,
    manager_staff_id integer NOT NULL REFERENCES public.staff (staff_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    address_id integer NOT NULL REFERENCES public.address (address_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);
CREATE UNIQUE INDEX idx_unq_manager_staff_id ON public.store USING btree (manager_staff_id);
ALTER TABLE public.staff ADD CONSTRAINT staff_store_id_fkey FOREIGN KEY (store_id) REFERENCES public.store (store_id);

CREATE TABLE public.customer (
    customer_id serial PRIMARY KEY,
    store_id integer NOT NULL REFERENCES public.store (store_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text,
    address_id integer NOT NULL REFERENCES public.address (address_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    activebool boolean DEFAULT true NOT NULL,
    create_date date DEFAULT CURRENT_DATE NOT NULL,
    last_update timestamp with time zone DEFAULT now(),
    active integer
);
CREATE INDEX idx_last_name ON public.customer USING btree (last_name);

CREATE TABLE public.inventory (
    inventory_id serial PRIMARY KEY,
    film_id integer NOT NULL REFERENCES public.film (film_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    store_id integer NOT NULL REFERENCES public.store (store_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.rental (
    rental_id serial PRIMARY KEY,
    rental_date timestamp with time zone NOT NULL,
    inventory_id integer NOT NULL REFERENCES public.inventory (inventory_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    customer_id integer NOT NULL REFERENCES public.customer (customer_id) ON UPDATE CASCADE ON DELETE RESTRICT,
    return_date timestamp with time zone,
    staff_id integer NOT NULL REFERENCES public.staff (staff_id),
    last_update timestamp with time zone DEFAULT now() NOT NULL
);
CREATE UNIQUE INDEX idx_unq_rental_rental_date_inventory_id_customer_id
    ON public.rental USING btree (rental_date, inventory_id, customer_id);

CREATE TABLE public.payment (
    payment_id serial NOT NULL,
    customer_id integer NOT NULL,
    staff_id integer NOT NULL,
    rental_id integer NOT NULL,
    amount numeric(5,2) NOT NULL,
    payment_date timestamp with time zone NOT NULL,
    PRIMARY KEY (payment_date, payment_id)
) PARTITION BY RANGE (payment_date);
CREATE TABLE public.payment_p2022_01 PARTITION OF public.payment FOR VALUES FROM ('2022-01-01 00:00:00+00') TO ('2022-02-01 00:00:00+00');
CREATE TABLE public.payment_p2022_02 PARTITION OF public.payment FOR VALUES FROM ('2022-02-01 00:00:00+00') TO ('2022-03-01 00:00:00+00');
CREATE TABLE public.payment_p2022_03 PARTITION OF public.payment FOR VALUES FROM ('2022-03-01 00:00:00+00') TO ('2022-04-01 00:00:00+00');
CREATE TABLE public.payment_p2022_04 PARTITION OF public.payment FOR VALUES FROM ('2022-04-01 00:00:00+00') TO ('2022-05-01 00:00:00+00');
CREATE TABLE public.payment_p2022_05 PARTITION OF public.payment FOR VALUES FROM ('2022-05-01 00:00:00+00') TO ('2022-06-01 00:00:00+00');
CREATE TABLE public.payment_p2022_06 PARTITION OF public.payment FOR VALUES FROM ('2022-06-01 00:00:00+00') TO ('2022-07-01 00:00:00+00');
CREATE TABLE public.payment_p2022_07 PARTITION OF public.payment FOR VALUES FROM ('2022-07-01 00:00:00+00') TO ('2022-08-01 00:00:00+00');
CREATE INDEX idx_fk_payment_customer_id ON public.payment USING btree (customer_id);
ALTER TABLE public.payment ADD CONSTRAINT payment_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customer (customer_id);
ALTER TABLE public.payment ADD CONSTRAINT payment_rental_id_fkey FOREIGN KEY (rental_id) REFERENCES public.rental (rental_id);
ALTER TABLE public.payment ADD CONSTRAINT payment_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES public.staff (staff_id);

CREATE TRIGGER film_fulltext_trigger BEFORE INSERT OR UPDATE ON public.film FOR EACH ROW
    EXECUTE FUNCTION tsvector_update_trigger('fulltext', 'pg_catalog.english', 'title', 'description');
CREATE TRIGGER last_updated BEFORE UPDATE ON public.actor FOR EACH ROW EXECUTE FUNCTION public.last_updated();
CREATE TRIGGER last_updated BEFORE UPDATE ON public.film FOR EACH ROW EXECUTE FUNCTION public.last_updated();
CREATE TRIGGER last_updated BEFORE UPDATE ON public.customer FOR EACH ROW EXECUTE FUNCTION public.last_updated();
CREATE TRIGGER last_updated BEFORE UPDATE ON public.rental FOR EACH ROW EXECUTE FUNCTION public.last_updated();

-- a few rows
INSERT INTO public.language (name) VALUES ('English'), ('Italian'), ('Japanese');
INSERT INTO public.country (country) VALUES ('Afghanistan'), ('Algeria');
INSERT INTO public.city (city, country_id) VALUES ('Kabul', 1), ('Batna', 2);
INSERT INTO public.address (address, district, city_id, phone) VALUES ('47 MySakila Drive', 'Alberta', 1, ''),
    ('28 MySQL Boulevard', 'QLD', 2, '');
INSERT INTO public.actor (first_name, last_name) VALUES ('PENELOPE', 'GUINESS'), ('NICK', 'WAHLBERG');
INSERT INTO public.category (name) VALUES ('Action'), ('Animation');
INSERT INTO public.film (title, description, release_year, language_id, rating, special_features, fulltext)
VALUES ('ACADEMY DINOSAUR', 'A Epic Drama of a Feminist And a Mad Scientist', 2006, 1, 'PG',
        '{"Deleted Scenes","Behind the Scenes"}', ''),
       ('ACE GOLDFINGER', 'A Astounding Epistle of a Database Administrator', 2006, 1, 'G', '{Trailers}', '');
INSERT INTO public.film_actor (actor_id, film_id) VALUES (1, 1), (2, 2);
INSERT INTO public.film_category (film_id, category_id) VALUES (1, 1), (2, 2);
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
ALTER TABLE public.staff DROP CONSTRAINT staff_store_id_fkey;
INSERT INTO public.staff (first_name, last_name, address_id, store_id, username) VALUES ('Mike', 'Hillyer', 1, 1, 'Mike');
INSERT INTO public.store (manager_staff_id, address_id) VALUES (1, 1);
ALTER TABLE public.staff ADD CONSTRAINT staff_store_id_fkey FOREIGN KEY (store_id) REFERENCES public.store (store_id);
COMMIT;
INSERT INTO public.customer (store_id, first_name, last_name, address_id) VALUES (1, 'MARY', 'SMITH', 2);
INSERT INTO public.inventory (film_id, store_id) VALUES (1, 1), (2, 1);
INSERT INTO public.rental (rental_date, inventory_id, customer_id, staff_id)
VALUES ('2022-05-24 22:53:30+00', 1, 1, 1), ('2022-06-24 22:54:33+00', 2, 1, 1);
INSERT INTO public.payment (customer_id, staff_id, rental_id, amount, payment_date)
VALUES (1, 1, 1, 2.99, '2022-05-25 11:30:37+00'), (1, 1, 2, 0.99, '2022-06-28 10:35:23+00');
